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


def test_the_correlation_judges_a_t1w_reference_only(tmp_path: Path) -> None:
    """A mean BOLD correlates near 0 with the T1 template however well it is placed: only Dice judges it."""
    from pds_mri.preprocess.registration import MIN_QC, registration_findings

    low, fine = MIN_QC - 0.4, f"{MIN_DICE + 0.05}"
    bold = subject_qc(tmp_path, {"participant_id": "sub-01", "registration": "affine via mean BOLD",
                                 "registration_qc": f"{low}", "registration_dice": fine})  # fmt: skip
    t1w = subject_qc(tmp_path, {"participant_id": "sub-02", "registration": "SyN via T1w",
                                "registration_qc": f"{low}", "registration_dice": fine})  # fmt: skip
    assert not any("QC r" in f for f in bold.flags)
    assert any("QC r" in f for f in t1w.flags)
    assert registration_findings(None, None, "affine via T1w") == []
    assert registration_findings(low, None, "affine via T1w; fMRI as declared (space-MNI152)")  # a T1w reference
    assert registration_findings(low, MIN_DICE - 0.1, "affine via mean DWI") == [
        f"poor registration (brain-mask Dice {MIN_DICE - 0.1:.2f} < {MIN_DICE})"
    ]
