"""Three-plane figures: cuts through voxel centres in mm, transparent overlays outside the mask, PNG rows."""

from __future__ import annotations

import io

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from pds_mri.report.brain import Contour, Row, cut_coords, field_of_view, ortho_png, overlay_values, voxel_mm

AFFINE = np.array([[6.8, 0, 0, -100.0], [0, 6.8, 0, -120.0], [0, 0, 9.0, -70.0], [0, 0, 0, 1]])


def test_cut_coords_is_the_mm_centre_of_the_voxel_nearest_the_mask_centroid() -> None:
    mask = np.zeros((10, 10, 8), np.float32)
    mask[2:5, 6:9, 3:6] = 1  # centroid voxel (3, 7, 4)
    x, y, z = cut_coords(nib.Nifti1Image(mask, AFFINE))
    assert (x, y, z) == pytest.approx((-100 + 3 * 6.8, -120 + 7 * 6.8, -70 + 4 * 9.0))
    assert voxel_mm(nib.Nifti1Image(mask, AFFINE)) == (6.8, 6.8, 9.0)  # anisotropic: drawn at its physical size


def test_overlay_values_hide_only_the_outside_of_the_mask() -> None:
    data = np.array([[[0.0, 0.5], [-0.3, 0.0]]], np.float32)
    mask = np.array([[[True, True], [True, False]]])
    out = overlay_values(data, mask)
    assert out[0, 0, 0] != 0 and out[0, 0, 1] == 0.5 and out[0, 1, 1] == 0  # a true 0 inside stays visible


def test_ortho_png_draws_one_row_per_image_and_absent_rows() -> None:
    rng = np.random.default_rng(0)
    img = nib.Nifti1Image(rng.uniform(-1, 1, (10, 12, 8)).astype(np.float32), AFFINE)
    rows = [
        Row("map", img, contours=(Contour(field_of_view(img), "orange", "dashed"),)),
        Row("map on the template", img, cmap="viridis", on_template=True, threshold=0),
        Row("real", None, note="imputed"),
    ]
    png = ortho_png(rows, cut_coords(None, img), title="t", dpi=20)
    width, height = Image.open(io.BytesIO(png)).size
    assert height > 2.5 * (width / 8.0 * 2.3) * 0.9  # three rows of 2.3 in on an 8 in wide figure
