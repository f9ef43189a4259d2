"""The shared vocabulary (`pds_mri.domain`): every tuple is its Literal's values, and the modules with a
richer table of the same names (presets, diagnosis codes) list exactly those names."""

from __future__ import annotations

from typing import get_args

from pds_mri import domain


def test_each_tuple_lists_its_literal() -> None:
    assert domain.DIRECTIONS == ("fmri2dmri", "dmri2fmri")
    assert ("auto", *domain.DIRECTIONS) == domain.DIRECTION_CHOICES
    assert get_args(domain.Device) == domain.DEVICES and "auto" in domain.DEVICES


def test_tables_keyed_by_the_vocabulary_cover_it() -> None:
    from pds_mri.config import _PRESETS
    from pds_mri.training.data import DIAGNOSIS_CODES, DIRECTION_CODES

    assert tuple(DIAGNOSIS_CODES) == domain.DIAGNOSES and tuple(DIRECTION_CODES) == domain.DIRECTIONS
    assert tuple(_PRESETS) == domain.PRESETS


def test_open_sets_are_registries_not_literals() -> None:
    """Maps and classifiers grow by a file: their names live in one registry each, not in the vocabulary."""
    from pds_mri.config import Maps
    from pds_mri.preprocess.maps import DMRI_MAPS, FMRI_MAPS

    assert not any(hasattr(domain, n) for n in ("FMRI_MAPS", "DMRI_MAPS", "CLASSIFIERS", "FmriMap", "DmriMap"))
    assert (Maps().fmri_map, Maps().dmri_map) == (FMRI_MAPS.default, DMRI_MAPS.default)
