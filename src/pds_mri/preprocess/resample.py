"""Resampling between an input's own space and a model grid, by affine (nilearn), and FOV checks."""

from __future__ import annotations

import warnings
from typing import Literal

import nibabel as nib
import numpy as np
from nilearn.image import resample_img
from nilearn.image.resampling import BoundingBoxError

from pds_mri.config import Grid
from pds_mri.preprocess._image import float_image

Interpolation = Literal["continuous", "linear", "nearest"]


def resample_to(
    img: nib.Nifti1Image,
    affine: np.ndarray,
    shape: tuple[int, ...],
    interpolation: Interpolation = "continuous",
) -> nib.Nifti1Image:
    """Resample a 3D or 4D image onto (affine, 3D shape); outside the input's FOV is 0; float32."""
    # A float32 copy keeps nilearn from returning integer (truncated) or scaled-on-disk data.
    img = float_image(img.get_fdata(dtype=np.float32), img.affine, like=img)
    target_shape = tuple(int(s) for s in shape[:3])
    with warnings.catch_warnings():
        # nilearn warns on binary inputs (masks) resampled with linear/continuous; that is intended here.
        warnings.filterwarnings("ignore", message=".*binary.*", category=UserWarning)
        try:
            out = resample_img(
                img,
                target_affine=np.asarray(affine, dtype=float),
                target_shape=target_shape,
                interpolation=interpolation,
                fill_value=0.0,
                force_resample=True,
                copy_header=True,
            )
        except BoundingBoxError:  # target and input do not overlap at all: all outside the FOV
            return float_image(np.zeros(target_shape + img.shape[3:], np.float32), affine, like=img)
    return float_image(out.get_fdata(dtype=np.float32), out.affine, like=img)


def to_grid(img: nib.Nifti1Image, grid: Grid, interpolation: Interpolation = "continuous") -> nib.Nifti1Image:
    """Put a 3D map or 4D stack (e.g. tissue probabilities) on the model grid (docs/maps.md)."""
    return resample_to(img, grid.affine, grid.shape, interpolation)


def to_native(
    img_on_grid: nib.Nifti1Image, reference: nib.Nifti1Image, interpolation: Interpolation = "continuous"
) -> nib.Nifti1Image:
    """Bring a grid image back onto the reference's own shape (first 3 dims) and affine, for outputs."""
    out = resample_to(img_on_grid, reference.affine, reference.shape[:3], interpolation)
    return float_image(out.get_fdata(dtype=np.float32), reference.affine, like=reference)


def fov_mask(img: nib.Nifti1Image, grid: Grid) -> np.ndarray:
    """Boolean grid mask of the voxels the input actually covers, so that 0-filled voxels can be told apart."""
    ones = nib.Nifti1Image(np.ones(img.shape[:3], dtype=np.float32), img.affine)
    return to_grid(ones, grid, interpolation="nearest").get_fdata() > 0.5
