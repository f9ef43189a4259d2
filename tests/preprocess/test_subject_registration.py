"""What a prepared row is registered on: one T1w for a session, each image on its own across sessions."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def test_images_of_different_sessions_are_registered_each_on_its_own(sim_bids: Path) -> None:
    """Two sessions are two scanner frames: the T1w of one cannot place the DWI of another."""
    from types import SimpleNamespace

    import nibabel as nib

    from pds_mri.io.inputs import SubjectInputs
    from pds_mri.preprocess.subject_registration import register_subject

    sub = sim_bids / "sub-001"
    images = {k: nib.load(next(sub.glob(f"{k}/*.nii.gz"))) for k in ("func", "dwi", "anat")}
    borrowed = SubjectInputs("sub-001", bold=sub, dwi=sub, t1w=sub, session_id="ses-01", dwi_session="ses-02")
    data = SimpleNamespace(bold_img=images["func"], dwi_img=images["dwi"], t1w_img=images["anat"], inputs=borrowed)
    row: dict = {}
    to_mni = register_subject(data, "affine", row)
    assert set(to_mni) == {"fmri", "dmri", "t1w"}
    assert "each on its own (the images come from different sessions)" in row["registration"]
    assert not np.allclose(to_mni["fmri"].transform.matrix, to_mni["t1w"].transform.matrix)  # not one for all
