"""A subject → MNI152 transform (an affine, optionally followed by a SyN displacement field) and resampling
through it: native images onto the model grids, model-grid images back onto a native grid.

Conventions (those of ANTs/ITK, so the stored fields are what `antsApplyTransforms` and nitransforms read):
``matrix`` is the RAS subject → MNI world matrix of the affine part. ``warp`` is the displacement field that
resamples a native image into MNI space: for an MNI point y, the native point is ``inv(matrix) @ (y + u(y))``.
``inverse_warp`` resamples an MNI image into native space: for a native point x, y' = matrix @ x and the MNI
point is ``y' + v(y')``. Both fields lie on the registration template's grid, shaped (X, Y, Z, 1, 3), their
vectors in ITK's LPS millimetres (x and y negated with respect to RAS), as antsRegistration writes them.

Without a warp every function here is the affine path used since before SyN: place the image by
``matrix @ affine`` (voxels untouched) and resample with nilearn, so affine outputs did not change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import nibabel as nib
import numpy as np
from scipy import ndimage

from pds_mri.config import Grid
from pds_mri.preprocess._image import float_image
from pds_mri.preprocess.resample import Interpolation, resample_to

_ORDER: dict[str, int] = {"continuous": 3, "linear": 1, "nearest": 0}
_LPS = np.array([-1.0, -1.0, 1.0])


@dataclass(frozen=True)
class ToMNI:
    """Subject RAS → MNI: an affine ``matrix`` and, after SyN, its displacement fields (see the module)."""

    matrix: np.ndarray
    warp: nib.Nifti1Image | None = None
    inverse_warp: nib.Nifti1Image | None = None

    @property
    def nonlinear(self) -> bool:
        return self.warp is not None


def in_mni(img: nib.Nifti1Image, to_mni: np.ndarray) -> nib.Nifti1Image:
    """The same voxels placed in MNI world space: affine ← to_mni · affine (the affine part only)."""
    return img.__class__(np.asanyarray(img.dataobj), to_mni @ img.affine, img.header)


def _displace(field: nib.Nifti1Image, points: np.ndarray) -> np.ndarray:
    """points (3, N) RAS mm + the field's displacement there (RAS mm; 0 outside the field, as in ITK)."""
    data = np.asarray(field.dataobj, dtype=np.float32).reshape(*field.shape[:3], 3)
    inv = np.linalg.inv(field.affine)
    vox = inv[:3, :3] @ points + inv[:3, 3:]
    shift = np.stack([ndimage.map_coordinates(data[..., k], vox, order=1, cval=0.0) for k in range(3)])
    return points + shift * _LPS[:, None]


def _sample(img: nib.Nifti1Image, world: np.ndarray, shape: tuple[int, ...], interpolation: Interpolation) -> Any:
    """img's values at world points (3, N) RAS mm, reshaped to `shape` (+ img's 4th dim); 0 outside it."""
    data = img.get_fdata(dtype=np.float32)
    inv = np.linalg.inv(img.affine)
    vox = inv[:3, :3] @ world + inv[:3, 3:]
    order = _ORDER[interpolation]
    volumes = data.reshape(*data.shape[:3], -1)
    out = [
        ndimage.map_coordinates(volumes[..., k], vox, order=order, cval=0.0, mode="constant", prefilter=order > 1)
        for k in range(volumes.shape[3])
    ]
    stacked = np.stack(out, axis=-1).reshape(*shape, *data.shape[3:]) if data.ndim > 3 else out[0].reshape(shape)
    return stacked.astype(np.float32)


def _grid_points(affine: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    ijk = np.indices(tuple(int(s) for s in shape[:3]), dtype=np.float64).reshape(3, -1)
    return affine[:3, :3] @ ijk + affine[:3, 3:]


def to_mni_space(
    img: nib.Nifti1Image,
    transform: ToMNI,
    affine: np.ndarray,
    shape: tuple[int, ...],
    interpolation: Interpolation = "continuous",
) -> nib.Nifti1Image:
    """A native 3D/4D image resampled onto an MNI-space (affine, shape) through the whole transform."""
    if transform.warp is None:
        return resample_to(in_mni(img, transform.matrix), affine, shape, interpolation)
    mni = _displace(transform.warp, _grid_points(affine, shape))
    native = np.linalg.inv(transform.matrix)
    points = native[:3, :3] @ mni + native[:3, 3:]
    data = _sample(img, points, tuple(int(s) for s in shape[:3]), interpolation)
    return float_image(data, affine, like=img)


def to_grid_via(img: nib.Nifti1Image, transform: ToMNI, grid: Grid, interpolation: Interpolation) -> nib.Nifti1Image:
    """A native map onto a model grid through the transform."""
    return to_mni_space(img, transform, grid.affine, grid.shape, interpolation)


def fov_mask_via(img: nib.Nifti1Image, transform: ToMNI, grid: Grid) -> np.ndarray:
    """The grid voxels the native image covers, through the transform."""
    ones = nib.Nifti1Image(np.ones(img.shape[:3], dtype=np.float32), img.affine)
    return to_grid_via(ones, transform, grid, "nearest").get_fdata() > 0.5


def to_native_via(
    img_on_grid: nib.Nifti1Image,
    transform: ToMNI,
    reference: nib.Nifti1Image,
    interpolation: Interpolation = "continuous",
) -> nib.Nifti1Image:
    """An MNI-space (model-grid) image onto the native reference's grid, through the inverse transform."""
    from pds_mri.preprocess.resample import to_native

    if transform.inverse_warp is None:
        out = to_native(img_on_grid, in_mni(reference, transform.matrix), interpolation)
        return nib.Nifti1Image(np.asarray(out.dataobj, np.float32), reference.affine, out.header)
    native = _grid_points(reference.affine, reference.shape)
    mni = transform.matrix[:3, :3] @ native + transform.matrix[:3, 3:]
    points = _displace(transform.inverse_warp, mni)
    data = _sample(img_on_grid, points, tuple(int(s) for s in reference.shape[:3]), interpolation)
    return float_image(data, reference.affine, like=reference)
