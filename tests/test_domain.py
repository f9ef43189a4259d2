"""The shared vocabulary (`pds_mri.domain`): every tuple is its Literal's values, and the modules with a
richer table of the same names (classifiers, presets, diagnosis codes) list exactly those names."""

from __future__ import annotations

from typing import get_args

from pds_mri import domain


def test_each_tuple_lists_its_literal() -> None:
    assert domain.DIRECTIONS == ("fmri2dmri", "dmri2fmri")
    assert ("auto", *domain.DIRECTIONS) == domain.DIRECTION_CHOICES
    assert get_args(domain.Device) == domain.DEVICES and "auto" in domain.DEVICES


def test_tables_keyed_by_the_vocabulary_cover_it() -> None:
    from pds_mri.config import _PRESETS, Maps
    from pds_mri.evaluation.classifiers import CLASSIFIERS
    from pds_mri.training.data import DIAGNOSIS_CODES, DIRECTION_CODES

    assert tuple(DIAGNOSIS_CODES) == domain.DIAGNOSES and tuple(DIRECTION_CODES) == domain.DIRECTIONS
    assert get_args(Maps.model_fields["fmri_map"].annotation) == domain.FMRI_MAPS
    assert get_args(Maps.model_fields["dmri_map"].annotation) == domain.DMRI_MAPS
    assert tuple(_PRESETS) == domain.PRESETS
    assert tuple(CLASSIFIERS) == domain.CLASSIFIERS
