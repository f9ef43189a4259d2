"""The shared vocabulary (`pds_mri.domain`) and the modules that keep their own typed copy agree."""

from __future__ import annotations

from typing import get_args

from pds_mri import domain


def test_every_copy_of_the_vocabulary_equals_the_domain() -> None:
    from pds_mri.config import Maps, PresetName, _PRESETS
    from pds_mri.evaluation.classifiers import CLASSIFIERS
    from pds_mri.io.bids import DIAGNOSES
    from pds_mri.io.layout import MODALITIES
    from pds_mri.models.pds import SYNTHESIS_MODES
    from pds_mri.preprocess.registration import REGISTRATIONS
    from pds_mri.training.data import DIAGNOSIS_CODES, DIRECTIONS

    assert DIRECTIONS == domain.DIRECTIONS and tuple(MODALITIES) == domain.MODALITIES
    assert DIAGNOSES == domain.DIAGNOSES == tuple(DIAGNOSIS_CODES)
    assert get_args(Maps.model_fields["fmri_map"].annotation) == domain.FMRI_MAPS
    assert get_args(Maps.model_fields["dmri_map"].annotation) == domain.DMRI_MAPS
    assert get_args(PresetName) == domain.PRESETS == tuple(_PRESETS)
    assert tuple(CLASSIFIERS) == domain.CLASSIFIERS
    assert SYNTHESIS_MODES == domain.SYNTHESIS_MODES and REGISTRATIONS == domain.REGISTRATIONS
