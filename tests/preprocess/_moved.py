"""A simulated cohort moved in the scanner (shared by the registration tests): each subject's BOLD, DWI and T1w
affines changed by one rigid + scale transform (rotation <= 12 degrees, translation <= 25 mm, scale +-6 %; voxels
untouched), and the model-grid maps of a prepared directory to compare."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy.spatial.transform import Rotation


def move(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    move = np.eye(4)
    angles = rng.uniform(-12, 12, 3)
    move[:3, :3] = Rotation.from_euler("xyz", angles, degrees=True).as_matrix() * rng.uniform(0.94, 1.06)
    move[:3, 3] = rng.uniform(-25, 25, 3)
    return move


def moved_copy(bids: Path, out: Path) -> Path:
    shutil.copytree(bids, out)
    description = json.loads((out / "dataset_description.json").read_text())
    description.pop("SpatialReference", None)  # no longer true once the heads are moved
    (out / "dataset_description.json").write_text(json.dumps(description))
    for k, subject in enumerate(sorted(out.glob("sub-*"))):
        move_k = move(k)
        for path in subject.rglob("*.nii.gz"):
            img = nib.load(path)
            nib.save(nib.Nifti1Image(np.asarray(img.dataobj), move_k @ img.affine, img.header), path)
    return out


def cohort_rows(prepared: Path) -> list[dict[str, str]]:
    return list(csv.DictReader((prepared / "cohort.tsv").open(), delimiter="\t"))


def grid_maps(prepared: Path) -> dict[tuple[str, str], np.ndarray]:
    rows = cohort_rows(prepared)
    out = {}
    for r in rows:
        for m in ("fmri", "dmri"):
            if r[m]:
                data = np.asarray(nib.load(prepared / r[m]).dataobj)
                mask = np.asarray(nib.load(prepared / r[f"{m}_mask"]).dataobj) > 0
                out[(r["participant_id"], m)] = np.where(mask, data, np.nan)
    return out


def r(a: np.ndarray, b: np.ndarray) -> float:
    both = np.isfinite(a) & np.isfinite(b)
    return float(np.corrcoef(a[both], b[both])[0, 1])
