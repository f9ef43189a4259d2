"""The prepared QC flags a subject whose registered brain mask overlaps the MNI152 brain mask poorly."""

from __future__ import annotations

from pathlib import Path

from pds_mri.preprocess.registration import MIN_DICE
from pds_mri.report.prepared_qc import subject_qc


def test_a_low_registration_dice_is_flagged(tmp_path: Path) -> None:
    row = {"participant_id": "sub-01", "registration": "affine via T1w", "registration_qc": "0.8"}
    good = subject_qc(tmp_path, row | {"registration_dice": f"{MIN_DICE + 0.05}"})
    bad = subject_qc(tmp_path, row | {"registration_dice": f"{MIN_DICE - 0.1}"})
    assert bad.registration_dice == MIN_DICE - 0.1
    assert any("brain-mask Dice" in f for f in bad.flags)
    assert not any("brain-mask Dice" in f for f in good.flags)
