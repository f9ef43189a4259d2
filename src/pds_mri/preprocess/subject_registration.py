"""Placing one subject in MNI152 for `pds prepare`: which registration a cohort gets (``auto``), the per-image
subject → MNI matrices of one row, and the JSON that records them (``sub-X_desc-*_xfm.json``).

`preprocess/registration.py` estimates a matrix; this module decides what is registered on what.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from pds_mri.io.inputs import SubjectInputs

SPACE_NOTE = {
    "none": "--registration none: inputs are taken to lie in MNI152 world space as they are",
    "affine": "registering every subject to MNI152 (ANTsPy affine; via the T1w when present, else each modality's "
    "mean image)",
}


def resolve_registration(requested: str, bids_dir: Path, subjects: list[SubjectInputs]) -> str:
    """``auto``: no registration when every input declares an MNI152 space (a ``space-MNI152…`` file name, as
    fMRIPrep/QSIPrep MNI outputs have) or the dataset's description declares it (``SpatialReference``, as
    `pds simulate` writes: its heads are built in MNI space); otherwise an affine registration."""
    from pds_mri.preprocess.registration import MNI_SPACES, declared_mni

    if requested != "auto":
        return requested
    description = Path(bids_dir) / "dataset_description.json"
    try:
        declared = json.loads(description.read_text()).get("SpatialReference", "")
    except (OSError, ValueError, AttributeError):
        declared = ""
    if isinstance(declared, str) and declared in MNI_SPACES:
        return "none"
    images = [p for s in subjects for p in (s.bold, s.dwi) if p is not None]
    return "none" if images and all(declared_mni(Path(p).name) for p in images) else "affine"


def register_subject(data: Any, registration: str, row: dict) -> dict[str, np.ndarray]:
    """Per image kind (fmri, dmri, t1w), the subject RAS → MNI RAS matrix; empty without registration.

    With a T1w, its registration places every image of the subject (one session shares the scanner frame);
    without one, or when the row's images come from different sessions (io/sessions.py), each image is
    registered on its own (the T1w on itself). Fills row's registration columns."""
    from pds_mri.preprocess.registration import estimate_to_mni, qc, reference_image

    row.update({"registration": "none", "registration_qc": "", "fmri_xfm": "", "dmri_xfm": ""})
    if registration == "none":
        return {}
    images = {"fmri": data.bold_img, "dmri": data.dwi_img}
    one_frame = getattr(getattr(data, "inputs", None), "one_session", True)
    if data.t1w_img is not None and one_frame:
        reference = reference_image(data.t1w_img)
        matrix = estimate_to_mni(reference)
        row["registration"], row["registration_qc"] = "affine via T1w", round(qc(reference, matrix), 4)
        return {"t1w": matrix, **{m: matrix for m, img in images.items() if img is not None}}
    out, scores = {}, []
    for m, img in images.items():
        if img is not None:
            reference = reference_image(img)
            out[m] = estimate_to_mni(reference)
            scores.append(qc(reference, out[m]))
    row["registration"] = "affine via " + " and ".join(f"mean {'BOLD' if m == 'fmri' else 'DWI'}" for m in out)
    if data.t1w_img is not None:  # sessions differ: the T1w (for the tissue maps) is placed by its own registration
        reference = reference_image(data.t1w_img)
        out["t1w"] = estimate_to_mni(reference)
        scores.append(qc(reference, out["t1w"]))
        row["registration"] += " and T1w, each on its own (the images come from different sessions)"
    row["registration_qc"] = round(min(scores), 4)
    return out


def xfm_json(matrix: np.ndarray, row: dict) -> dict:
    return {
        "Description": "affine mapping this subject's native world coordinates (RAS mm) to MNI152NLin2009cAsym "
        "(RAS mm): x_mni = M @ [x, y, z, 1]; the native maps keep their own affine",
        "Matrix": np.asarray(matrix).round(8).tolist(),
        "Method": row["registration"] + " (ANTsPy antsRegistration Affine, Mattes MI, to nilearn's MNI152 T1 "
        "template at 4 mm)",
        "QC": row["registration_qc"],
    }
