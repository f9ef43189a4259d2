"""Brain masks on a model grid: data-driven, constrained by the MNI152 brain mask."""

from __future__ import annotations

from functools import lru_cache

import nibabel as nib
import numpy as np
from scipy import ndimage

from pds_mri.config import Grid
from pds_mri.preprocess.resample import to_grid
from pds_mri.preprocess.templates import mni_brain_mask

THRESHOLD_FRACTION = 0.1  # of the robust (98th percentile) maximum of |map|
MIN_FRACTION_OF_MNI = 0.1  # below this the data-driven mask is not trusted


@lru_cache(maxsize=8)
def _mni_mask_cached(grid: Grid) -> np.ndarray:
    prob = to_grid(mni_brain_mask(), grid, interpolation="linear").get_fdata()
    mask = prob >= 0.5
    mask.setflags(write=False)
    return mask


def mni_mask_on_grid(grid: Grid) -> np.ndarray:
    """MNI152 brain mask (nilearn, 2 mm) on the grid: voxels at least half inside the template brain."""
    return _mni_mask_cached(grid).copy()


def _largest_component(mask: np.ndarray) -> np.ndarray:
    labels, n = ndimage.label(mask)
    if n <= 1:
        return mask
    sizes = ndimage.sum_labels(mask, labels, index=np.arange(1, n + 1))
    return labels == (int(np.argmax(sizes)) + 1)


def brain_mask(map_img_on_grid: nib.Nifti1Image, grid: Grid) -> np.ndarray:
    """Brain voxels of a map (mean BOLD/DWI, FA, MD, ALFF...) already on `grid`.

    |map| > 10 % of its robust maximum, intersected with the MNI mask dilated by one voxel (which removes
    background noise, e.g. random FA outside the head), largest connected component, holes filled.
    Maps with no usable contrast (< 10 % of the MNI mask survives) fall back to the MNI mask alone.
    """
    data = np.abs(np.nan_to_num(map_img_on_grid.get_fdata(dtype=np.float32)))
    if data.shape[:3] != tuple(grid.shape):
        raise ValueError(f"map shape {data.shape} is not the grid shape {grid.shape}")
    data = data.reshape(grid.shape)
    mni = _mni_mask_cached(grid)
    nonzero = data[data > 0]
    if nonzero.size == 0:
        return mni.copy()
    robust_max = float(np.percentile(nonzero, 98))
    mask = (data > THRESHOLD_FRACTION * robust_max) & ndimage.binary_dilation(mni)
    mask = ndimage.binary_fill_holes(_largest_component(mask))
    if mask.sum() < MIN_FRACTION_OF_MNI * mni.sum():
        return mni.copy()
    return mask


def dice_coefficient(a: np.ndarray, b: np.ndarray) -> float | None:
    """2·|a ∩ b| / (|a| + |b|) of two boolean masks on one grid; None when both are empty."""
    total = int(a.sum() + b.sum())
    return 2.0 * float((a & b).sum()) / total if total else None
