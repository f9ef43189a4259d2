"""Resampling between native spaces and model grids, and field-of-view checks."""

from __future__ import annotations

import nibabel as nib
import numpy as np

from pds_mri.config import Grid
from pds_mri.preprocess.resample import fov_mask, to_grid, to_native

GRID = Grid(shape=(20, 24, 18), voxel_mm=(7.0, 7.0, 8.0))


def _smooth(world: np.ndarray) -> np.ndarray:
    """A smooth blob in world mm, so interpolation error is small."""
    return 100.0 * np.exp(-np.sum((world - np.array([0.0, -18.0, 8.0])) ** 2, axis=-1) / (2 * 35.0**2))


def _native(shape: tuple[int, int, int] = (36, 42, 34), vox: float = 4.5) -> nib.Nifti1Image:
    """An oblique-free native image (LAS, as scanners often write) covering the grid with a margin."""
    affine = np.diag([-vox, vox, vox, 1.0])
    affine[:3, 3] = [vox * shape[0] / 2, -18 - vox * shape[1] / 2, 8 - vox * shape[2] / 2]
    ijk = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), -1)
    return nib.Nifti1Image(_smooth(nib.affines.apply_affine(affine, ijk)).astype(np.float32), affine)


def test_to_grid_geometry_and_values() -> None:
    out = to_grid(_native(), GRID)
    assert out.shape == GRID.shape and out.get_data_dtype() == np.float32
    np.testing.assert_allclose(out.affine, GRID.affine)
    ijk = np.stack(np.meshgrid(*[np.arange(n) for n in GRID.shape], indexing="ij"), -1)
    expected = _smooth(nib.affines.apply_affine(GRID.affine, ijk))
    np.testing.assert_allclose(out.get_fdata(), expected, atol=1.0)


def test_round_trip_grid_native_grid_is_close() -> None:
    native = _native()
    on_grid = to_grid(native, GRID)
    back = to_native(on_grid, native)
    assert back.shape == native.shape and np.allclose(back.affine, native.affine)
    again = to_grid(back, GRID).get_fdata()
    inner = (slice(2, -2),) * 3
    np.testing.assert_allclose(again[inner], on_grid.get_fdata()[inner], atol=1.0)


def test_integer_input_and_outside_fov_is_zero() -> None:
    small = nib.Nifti1Image(np.full((4, 4, 4), 7, dtype=np.int16), np.diag([5.0, 5.0, 5.0, 1.0]))
    out = to_grid(small, GRID, interpolation="nearest").get_fdata()
    assert set(np.unique(out)) == {0.0, 7.0}
    assert (out == 7).sum() < out.size / 10


def test_disjoint_input_gives_zeros_not_an_error() -> None:
    far = np.diag([5.0, 5.0, 5.0, 1.0])
    far[:3, 3] = 5000.0
    img = nib.Nifti1Image(np.ones((4, 4, 4, 2), np.float32), far)
    out = to_grid(img, GRID)
    assert out.shape == (*GRID.shape, 2) and not out.get_fdata().any()
    assert not fov_mask(img, GRID).any()


def test_4d_tissue_stack() -> None:
    native = _native()
    stack = np.stack([native.get_fdata(), 2 * native.get_fdata(), np.ones(native.shape)], axis=-1)
    out = to_grid(nib.Nifti1Image(stack, native.affine), GRID, interpolation="linear")
    assert out.shape == (*GRID.shape, 3)
    data = out.get_fdata()
    np.testing.assert_allclose(data[..., 1], 2 * data[..., 0], rtol=1e-5, atol=1e-4)
    back = to_native(out, native, interpolation="linear")
    assert back.shape == (*native.shape, 3)


def test_fov_mask_marks_covered_voxels() -> None:
    affine = GRID.affine.copy()
    half = nib.Nifti1Image(np.zeros((10, 24, 18), np.float32), affine)  # first half of the x axis
    mask = fov_mask(half, GRID)
    assert mask.dtype == bool and mask.shape == GRID.shape
    assert mask[:10].all() and not mask[10:].any()
