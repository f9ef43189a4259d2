"""dMRI maps (docs/maps.md): mean diffusion-weighted signal, FA and MD from a dipy tensor fit."""

from __future__ import annotations

from typing import Literal

import nibabel as nib
import numpy as np
from dipy.core.gradients import gradient_table
from dipy.reconst.dti import TensorModel

from pds_mri.config import Maps
from pds_mri.preprocess._image import float_image

DmriKind = Literal["mean", "fa", "md"]


def _as_n_by_3(bvecs: np.ndarray, n: int) -> np.ndarray:
    """FSL writes bvecs as 3 x N; accept either orientation."""
    bvecs = np.asarray(bvecs, dtype=float)
    if bvecs.shape == (3, n) and n != 3:
        bvecs = bvecs.T
    if bvecs.shape != (n, 3):
        raise ValueError(f"bvecs shape {bvecs.shape} does not match {n} volumes")
    return bvecs


def mean_dwi(data: np.ndarray, bvals: np.ndarray, b0_threshold: float) -> np.ndarray:
    """Mean of the diffusion-weighted volumes (b > b0_threshold); b0s are excluded (the paper's map)."""
    bvals = np.asarray(bvals, dtype=float)
    if data.ndim != 4 or data.shape[3] != bvals.size:
        raise ValueError(f"DWI shape {data.shape} does not match {bvals.size} b-values")
    dw = bvals > b0_threshold
    if not dw.any():
        raise ValueError(f"no volume with b > {b0_threshold}")
    return data[..., dw].mean(axis=3, dtype=np.float64).astype(np.float32)


def tensor_maps(
    data: np.ndarray,
    bvals: np.ndarray,
    bvecs: np.ndarray,
    b0_threshold: float,
    max_b: float,
    mask: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """FA and MD (float32, NaN-free) from dipy's default (WLS) tensor fit of the b0s + shells with b <= max_b.

    Higher shells are left out because the tensor model is only valid at low b (~<= 1500 s/mm²).
    """
    bvals = np.asarray(bvals, dtype=float)
    bvecs = _as_n_by_3(bvecs, bvals.size)
    if data.ndim != 4 or data.shape[3] != bvals.size:
        raise ValueError(f"DWI shape {data.shape} does not match {bvals.size} b-values")
    keep = bvals <= max_b
    n_b0 = int((bvals[keep] <= b0_threshold).sum())
    n_dw = int(keep.sum()) - n_b0
    if n_b0 < 1 or n_dw < 6:
        raise ValueError(f"tensor fit needs >= 1 b0 and >= 6 volumes with b <= {max_b}; got {n_b0}, {n_dw}")
    gtab = gradient_table(bvals[keep], bvecs=bvecs[keep], b0_threshold=b0_threshold)
    fit = TensorModel(gtab).fit(data[..., keep], mask=mask)
    fa = np.nan_to_num(fit.fa, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)
    md = np.nan_to_num(fit.md, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)
    return fa, md


def dmri_map(
    img: nib.Nifti1Image,
    bvals: np.ndarray,
    bvecs: np.ndarray,
    kind: DmriKind,
    maps: Maps,
    data: np.ndarray | None = None,
) -> nib.Nifti1Image:
    """The configured dMRI map as a 3D float32 image in the DWI's own affine.

    `data` is the DWI's voxel array when the caller already read it (no second decode). The tensor is
    fitted only where the mean b0 is positive: background voxels carry no tensor and skipping them makes
    the fit several times faster.
    """
    data = img.get_fdata(dtype=np.float32) if data is None else data
    bvals = np.asarray(bvals, dtype=float)
    if kind == "mean":
        out = mean_dwi(data, bvals, maps.b0_threshold)
    elif kind in ("fa", "md"):
        b0 = bvals <= maps.b0_threshold
        mask = data[..., b0].mean(axis=3) > 0 if b0.any() else None  # no b0: tensor_maps says so
        fa, md = tensor_maps(data, bvals, bvecs, maps.b0_threshold, maps.dti_max_b, mask=mask)
        out = fa if kind == "fa" else md
    else:
        raise ValueError(f"unknown dMRI map {kind!r}; choose mean, fa or md")
    return float_image(out, img.affine, like=img)
