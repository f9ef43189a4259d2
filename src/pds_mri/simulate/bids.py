"""Writing the simulated cohort as raw BIDS: every file atomic and byte-deterministic.

Images are int16 (as scanners write them; the noise dwarfs the rounding), qform = sform = the LAS
native affine with code 1 (scanner), units mm and s, and pixdim[4] = TR for BOLD.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import nibabel as nib
import numpy as np

from pds_mri.io.atomic import save_nifti, write_json, write_text, write_tsv
from pds_mri.provenance import dataset_generated_by

BIDS_VERSION = "1.9.0"
DATASET_NAME = "pds-mri simulated cohort"
GENERATOR = "pds-mri simulate"
PARTICIPANT_COLUMNS = ("participant_id", "diagnosis", "age", "sex")
TASK = "rest"

PARTICIPANTS_JSON = {
    "participant_id": {"Description": "Participant label"},
    "diagnosis": {
        "Description": "Simulated clinical group; sets the severity of the simulated disease effects",
        "Levels": {
            "NC": "normal cognition (severity 0)",
            "MCI": "mild cognitive impairment (severity about 0.5)",
            "AD": "Alzheimer's disease dementia (severity about 1)",
        },
    },
    "age": {"Description": "Simulated age at scan", "Units": "year"},
    "sex": {"Description": "Simulated sex", "Levels": {"M": "male", "F": "female"}},
}


def to_nifti(
    data: np.ndarray, affine: np.ndarray, voxel_mm: Sequence[float], tr: float | None = None
) -> nib.Nifti1Image:
    """int16 NIfTI with consistent qform/sform (code 1), mm/s units and, for 4D, pixdim[4] = TR."""
    arr = np.clip(np.rint(data), 0, np.iinfo(np.int16).max).astype(np.int16)
    img = nib.Nifti1Image(arr, affine)
    hdr = img.header
    hdr.set_data_dtype(np.int16)
    img.set_sform(affine, code=1)
    img.set_qform(affine, code=1)
    hdr.set_xyzt_units("mm", "sec")
    zooms = [float(v) for v in voxel_mm[:3]]
    if arr.ndim == 4:
        zooms.append(float(tr) if tr is not None else 1.0)
    hdr.set_zooms(zooms)
    hdr["descrip"] = b"pds-mri simulated"
    return img


def subject_label(index: int, n_subjects: int) -> str:
    """sub-001 … : zero-padded to at least 3 digits so labels sort in order."""
    width = max(3, len(str(n_subjects)))
    return f"sub-{index + 1:0{width}d}"


def write_dataset_files(out_dir: Path, rows: list[dict], description: str, readme: str) -> None:
    write_json(
        out_dir / "dataset_description.json",
        {
            "Name": DATASET_NAME,
            "BIDSVersion": BIDS_VERSION,
            "DatasetType": "raw",
            # the heads are built in MNI152 world space: `pds prepare --registration auto` needs no registration
            "SpatialReference": "MNI152NLin2009cAsym",
            "License": "CC0",
            "Authors": ["pds-mri developers"],
            "GeneratedBy": dataset_generated_by(description, name=GENERATOR),
        },
    )
    write_tsv(out_dir / "participants.tsv", rows, PARTICIPANT_COLUMNS)
    write_json(out_dir / "participants.json", PARTICIPANTS_JSON)
    write_text(out_dir / "README", readme)


def write_t1w(out_dir: Path, sub: str, data: np.ndarray, affine: np.ndarray, voxel_mm: float) -> Path:
    path = out_dir / sub / "anat" / f"{sub}_T1w.nii.gz"
    save_nifti(to_nifti(data, affine, (voxel_mm,) * 3), path)
    return path


def write_bold(
    out_dir: Path, sub: str, data: np.ndarray, affine: np.ndarray, voxel_mm: Sequence[float], tr: float
) -> Path:
    stem = out_dir / sub / "func" / f"{sub}_task-{TASK}_bold"
    path = stem.with_name(stem.name + ".nii.gz")
    save_nifti(to_nifti(data, affine, voxel_mm, tr), path)
    write_json(stem.with_name(stem.name + ".json"), {"TaskName": TASK, "RepetitionTime": float(tr)})
    return path


def write_dwi(
    out_dir: Path,
    sub: str,
    data: np.ndarray,
    affine: np.ndarray,
    voxel_mm: Sequence[float],
    bvals: np.ndarray,
    bvecs: np.ndarray,
) -> Path:
    stem = out_dir / sub / "dwi" / f"{sub}_dwi"
    path = stem.with_name(stem.name + ".nii.gz")
    save_nifti(to_nifti(data, affine, voxel_mm), path)
    write_text(stem.with_name(stem.name + ".bval"), " ".join(_num(b, 0) for b in bvals) + "\n")
    rows = [" ".join(_num(v, 6) for v in np.asarray(bvecs)[:, k]) for k in range(3)]
    write_text(stem.with_name(stem.name + ".bvec"), "\n".join(rows) + "\n")
    return path


def _num(value: float, decimals: int) -> str:
    """Fixed-point text without '-0' and with plain 0 for zeros (b0 rows read '0 0 0')."""
    v = round(float(value), decimals)
    if v == 0:
        return "0"
    return f"{v:.{decimals}f}"
