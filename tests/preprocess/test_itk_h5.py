"""ITK .h5 composites (affine + displacement field) read into a ToMNI: the point mapping proven numerically
against the hand-computed one, ANTs' (antsApplyTransforms on the same file) and nitransforms' reading of it;
the inverse field from the reverse file or by inversion; unusable files refused with a reason."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from pds_mri.preprocess.derivative_transforms import load
from pds_mri.preprocess.field_inverse import invert
from pds_mri.preprocess.itk_h5 import UnusableTransform
from pds_mri.preprocess.transform import to_mni_space, to_native_via

from ._itk import LPS, field_image, grid_points, inverse_of, tapered, write_composite
from ._moved import move

SHAPE = (20, 24, 20)
FIELD = np.array([[4.0, 0, 0, -40], [0, 4.0, 0, -60], [0, 0, 4.0, -36], [0, 0, 0, 1]])  # RAS, as MNI templates
MOVE = move(5)  # MNI RAS point -> subject RAS point (the ITK file's direction)


def _coordinates(points: np.ndarray) -> nib.Nifti1Image:
    """A native 4D image whose three volumes are its voxels' RAS coordinates, covering `points` (3, N)."""
    low, high = points.min(axis=1) - 12, points.max(axis=1) + 12
    affine = np.diag([3.0, 3.0, 3.0, 1.0])
    affine[:3, 3] = low
    shape = tuple(int(s) for s in np.ceil((high - low) / 3.0) + 1)
    data = grid_points(affine, shape).T.reshape(*shape, 3).astype(np.float32)
    return nib.Nifti1Image(data, affine)


@pytest.fixture
def composite(tmp_path: Path) -> dict:
    points = grid_points(FIELD, SHAPE)
    u = tapered(FIELD, SHAPE)(points)
    path = write_composite(tmp_path / "sub-01_from-T1w_to-MNI152NLin2009cAsym_mode-image_xfm.h5",
                           [LPS @ MOVE @ LPS, field_image(FIELD, SHAPE, u)])  # fmt: skip
    expected = MOVE[:3, :3] @ (points + u) + MOVE[:3, 3:]  # native = A(y + u(y)): the field acts first
    return {"path": path, "points": points, "u": u, "expected": expected, "native": _coordinates(expected)}


def test_a_composite_maps_mni_points_as_itk_does(composite: dict) -> None:
    """At every field grid point y, the native point our resampling reads is A(y + u(y)), to float precision."""
    transform = load(composite["path"])
    assert transform.nonlinear and np.allclose(transform.matrix, np.linalg.inv(MOVE), atol=1e-6)
    read = to_mni_space(composite["native"], transform, FIELD, SHAPE, "linear").get_fdata().reshape(-1, 3).T
    assert np.abs(read - composite["expected"]).max() < 1e-3


def test_ants_reads_the_same_file_the_same_way(composite: dict) -> None:
    """antsApplyTransforms on the .h5 itself samples the native image at the same points as we do."""
    import ants

    fixed = ants.from_nibabel_nifti(nib.Nifti1Image(np.zeros(SHAPE, np.float32), FIELD))
    native = composite["native"]
    for k in range(3):
        moving = ants.from_nibabel_nifti(nib.Nifti1Image(np.asarray(native.dataobj)[..., k], native.affine))
        values = ants.apply_transforms(fixed, moving, [str(composite["path"])], interpolator="linear").numpy()
        assert np.abs(values.ravel() - composite["expected"][k]).max() < 1e-3, k


def test_nitransforms_reads_the_same_layout(composite: dict) -> None:
    """nitransforms' ITKCompositeH5 finds the same affine (RAS) and field grid and vectors (RAS) in the file."""
    from nitransforms.io.itk import ITKCompositeH5, ITKLinearTransform

    linear, field = ITKCompositeH5.from_filename(composite["path"])
    assert isinstance(linear, ITKLinearTransform) and np.allclose(linear.to_ras(), MOVE, atol=1e-6)
    assert np.allclose(field.affine, FIELD)
    assert np.allclose(np.asarray(field.dataobj).reshape(-1, 3).T, composite["u"], atol=1e-5)


def test_the_reverse_file_gives_the_inverse_field(composite: dict) -> None:
    """With the derivative's reverse composite, its field is the inverse warp, and native -> MNI -> native is
    the identity; without it the inverted forward field gives the same."""
    points, u = composite["points"], composite["u"]
    v = inverse_of(tapered(FIELD, SHAPE), points)
    reverse = write_composite(
        composite["path"].with_name("sub-01_from-MNI152NLin2009cAsym_to-T1w_mode-image_xfm.h5"),
        [field_image(FIELD, SHAPE, v), LPS @ np.linalg.inv(MOVE) @ LPS],  # native -> affine first, then v
    )
    with_reverse = load(composite["path"])
    assert with_reverse.inverse_warp is not None
    assert np.allclose(np.asarray(with_reverse.inverse_warp.dataobj), np.asarray(field_image(FIELD, SHAPE, v).dataobj))
    reverse.unlink()
    computed = load(composite["path"]).inverse_warp
    assert computed is not None
    diff = np.asarray(computed.dataobj) - np.asarray(with_reverse.inverse_warp.dataobj)
    assert np.abs(diff).max() < 0.25 and np.abs(u).max() > 2.0  # linear interpolation on a 4 mm grid
    # MNI -> native -> MNI through the whole transform: a native point comes back where it was
    transform = with_reverse
    on_mni = to_mni_space(composite["native"], transform, FIELD, SHAPE, "linear")
    back = to_native_via(on_mni, transform, composite["native"], "linear").get_fdata()
    original = composite["native"].get_fdata()
    inside = np.all(back != 0, axis=-1)
    assert inside.mean() > 0.2 and np.abs(back - original)[inside].max() < 1.0


def test_field_inversion_reports_its_residual() -> None:
    field = field_image(FIELD, SHAPE, tapered(FIELD, SHAPE)(grid_points(FIELD, SHAPE)))
    _, residual = invert(field)
    assert residual < 0.01
    folded = field_image(FIELD, SHAPE, tapered(FIELD, SHAPE, amplitude=60.0)(grid_points(FIELD, SHAPE)))
    assert invert(folded)[1] > 0.1


def test_unusable_files_say_why(composite: dict, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage_xfm.h5"
    garbage.write_bytes(b"not hdf5 at all")
    with pytest.raises(UnusableTransform, match="not a readable ITK transform file"):
        load(garbage)
    import h5py

    bspline = tmp_path / "bspline_xfm.h5"
    write_composite(bspline, [LPS @ MOVE @ LPS])
    with h5py.File(bspline, "a") as f:
        del f["TransformGroup/1/TransformType"]
        f["TransformGroup/1"].create_dataset("TransformType", data=[b"BSplineTransform_double_3_3"])
    with pytest.raises(UnusableTransform, match="BSplineTransform_double_3_3, which is not supported"):
        load(bspline)
    field = field_image(FIELD, SHAPE, composite["u"])
    wrong_order = write_composite(tmp_path / "after_xfm.h5", [field, LPS @ MOVE @ LPS])
    with pytest.raises(UnusableTransform, match="does not act before its affine"):
        load(wrong_order)
    write_composite(
        composite["path"].with_name("sub-01_from-MNI152NLin2009cAsym_to-T1w_mode-image_xfm.h5"),
        [field, LPS @ MOVE @ LPS],  # not the inverse affine
    )
    with pytest.raises(UnusableTransform, match="is not the inverse of its own"):
        load(composite["path"])
    singular = np.zeros((4, 4))  # an affine of zeros: unusable (and named so), not a LinAlgError
    with pytest.raises(UnusableTransform, match="singular"):
        load(write_composite(tmp_path / "singular_xfm.h5", [singular]))
