"""Tiny real NIfTI/BIDS-style fixtures for the input validators, and helpers that corrupt them on disk.

Test modules reach the helpers through the `kit` fixture rather than `from conftest import ...`, because
several conftest.py files share that module name.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import nibabel as nib
import numpy as np
import pytest
from dipy.data import get_fnames
from nibabel.testing import data_path

from pds_mri.io.inputs import SubjectInputs

NIBABEL_DATA = Path(data_path)
FUNCTIONAL = NIBABEL_DATA / "functional.nii"  # (17, 21, 3, 20) int16, uncompressed
EXAMPLE4D = NIBABEL_DATA / "example4d.nii.gz"  # (128, 96, 24, 2) int16, gzip
SMALL_64D = tuple(Path(p) for p in get_fnames(name="small_64D"))  # nii (10,10,10,65), bval, bvec (65 x 3)


def write_nifti(
    path: Path,
    data: np.ndarray,
    voxel_mm: float = 4.0,
    origin: tuple[float, float, float] = (-12.0, -12.0, -8.0),
    tr: float | None = None,
) -> Path:
    """A NIfTI-1 image with a diagonal affine; `tr` sets pixdim[4] with time unit seconds (else unknown)."""
    affine = np.diag([voxel_mm, voxel_mm, voxel_mm, 1.0])
    affine[:3, 3] = origin
    img = nib.Nifti1Image(np.asarray(data), affine)
    img.header.set_xyzt_units("mm", "sec" if tr is not None else "unknown")
    if tr is not None:
        zooms = list(img.header.get_zooms())
        zooms[3] = tr
        img.header.set_zooms(zooms)
    nib.save(img, path)
    return path


def bold_array(n_volumes: int = 60, shape: tuple[int, int, int] = (6, 6, 4)) -> np.ndarray:
    rng = np.random.default_rng(0)
    return (100 + rng.standard_normal((*shape, n_volumes))).astype(np.float32)


def gradient_table_3xn(n_dirs: int = 12, b: float = 1000.0, b0: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """One b0 plus n_dirs real directions from dipy's small_64D, in the BIDS 3 x N layout."""
    dirs = np.loadtxt(SMALL_64D[2])[1 : n_dirs + 1]
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    bvals = np.concatenate([[b0], np.full(n_dirs, b)])
    bvecs = np.concatenate([np.zeros((1, 3)), dirs]).T
    return bvals, bvecs


def write_gradients(folder: Path, bvals: np.ndarray, bvecs: np.ndarray, stem: str = "dwi") -> tuple[Path, Path]:
    bval, bvec = folder / f"{stem}.bval", folder / f"{stem}.bvec"
    bval.write_text(" ".join(f"{b:g}" for b in np.atleast_1d(bvals)) + "\n")
    bvec.write_text("\n".join(" ".join(f"{v:.6f}" for v in row) for row in np.atleast_2d(bvecs)) + "\n")
    return bval, bvec


def dwi_array(bvals: np.ndarray, shape: tuple[int, int, int] = (5, 5, 4)) -> np.ndarray:
    s0 = np.full(shape, 1000.0, dtype=np.float32)
    return (s0[..., None] * np.exp(-np.asarray(bvals) * 0.0008)).astype(np.float32)


@pytest.fixture
def make_subject(tmp_path: Path) -> Callable[..., SubjectInputs]:
    """Factory for a small valid subject (BOLD + sidecar, DWI + bval/bvec, T1w) in its own folder."""
    counter = iter(range(1000))

    def factory(
        pid: str | None = None, bold: bool = True, dwi: bool = True, t1w: bool = True, n_volumes: int = 60
    ) -> SubjectInputs:
        pid = pid or f"sub-{next(counter):02d}"
        folder = tmp_path / pid
        folder.mkdir()
        fields: dict = {"participant_id": pid, "diagnosis": "NC"}
        if bold:
            fields["bold"] = write_nifti(folder / f"{pid}_bold.nii.gz", bold_array(n_volumes), tr=2.0)
            fields["bold_sidecar"] = folder / f"{pid}_bold.json"
            fields["bold_sidecar"].write_text(json.dumps({"RepetitionTime": 2.0, "TaskName": "rest"}))
        if dwi:
            bvals, bvecs = gradient_table_3xn()
            fields["dwi"] = write_nifti(folder / f"{pid}_dwi.nii.gz", dwi_array(bvals), voxel_mm=5.0)
            fields["bval"], fields["bvec"] = write_gradients(folder, bvals, bvecs, stem=f"{pid}_dwi")
        if t1w:
            t1 = np.random.default_rng(1).uniform(10, 100, (8, 8, 6)).astype(np.float32)
            fields["t1w"] = write_nifti(folder / f"{pid}_T1w.nii.gz", t1, voxel_mm=3.0)
        return SubjectInputs(**fields)

    return factory


# ---- corruption helpers: each edits a file in place (a copy in tmp_path, never a package file) ----


def truncate_half(path: Path) -> Path:
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    return path


def flip_middle(path: Path, n: int = 64) -> Path:
    raw = bytearray(path.read_bytes())
    mid = len(raw) // 2
    for i in range(mid, mid + n):
        raw[i] ^= 0xFF
    path.write_bytes(bytes(raw))
    return path


def edit_header(path: Path, **fields: object) -> Path:
    """Set raw NIfTI-1 header fields (no nibabel repair), keeping the data bytes; handles .nii and .nii.gz."""
    gz = path.name.endswith(".gz")
    raw = bytearray(gzip.decompress(path.read_bytes()) if gz else path.read_bytes())
    hdr = nib.Nifti1Header(binaryblock=bytes(raw[:348]), check=False)
    for key, value in fields.items():
        hdr[key] = value
    raw[:348] = hdr.binaryblock
    path.write_bytes(gzip.compress(bytes(raw)) if gz else bytes(raw))
    return path


def copy_to(src: Path, folder: Path, name: str | None = None) -> Path:
    dst = folder / (name or src.name)
    shutil.copyfile(src, dst)
    return dst


def tree_hashes(folder: Path) -> dict[str, tuple[str, int]]:
    """sha256 and mtime of every file below `folder`, to prove that validation modifies nothing."""
    out = {}
    for root, _, files in os.walk(folder):
        for name in files:
            p = Path(root) / name
            out[str(p)] = (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
    return out


def assert_one_line_error(err: BaseException, path: Path | str, *keywords: str) -> None:
    """The message names the file, carries a keyword of the problem, and is one line."""
    msg = str(err)
    assert "\n" not in msg, msg
    assert str(path) in msg or Path(path).name in msg, msg
    assert any(k.lower() in msg.lower() for k in keywords), f"{keywords} not in {msg!r}"


@pytest.fixture
def kit() -> SimpleNamespace:
    """The helpers of this module, for test modules (see the module docstring)."""
    return SimpleNamespace(
        FUNCTIONAL=FUNCTIONAL,
        EXAMPLE4D=EXAMPLE4D,
        SMALL_64D=SMALL_64D,
        write_nifti=write_nifti,
        bold_array=bold_array,
        dwi_array=dwi_array,
        gradient_table_3xn=gradient_table_3xn,
        write_gradients=write_gradients,
        truncate_half=truncate_half,
        flip_middle=flip_middle,
        edit_header=edit_header,
        copy_to=copy_to,
        tree_hashes=tree_hashes,
        assert_one_line_error=assert_one_line_error,
    )
