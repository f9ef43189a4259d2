"""read_nifti on real files (nibabel's and dipy's test data) and on files corrupted on disk."""

from __future__ import annotations

import os
import struct
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import nibabel as nib
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pds_mri.errors import InputError
from pds_mri.io.nifti import check_nifti_header, effective_shape, read_nifti, read_nifti_data

Builder = Callable[[Path, SimpleNamespace], Path]


def _tiny(tmp: Path, kit: SimpleNamespace, shape: tuple[int, ...] = (4, 4, 3, 5), name: str = "img.nii") -> Path:
    return kit.write_nifti(tmp / name, np.ones(shape, np.float32), tr=2.0)


def _missing(tmp: Path, kit: SimpleNamespace) -> Path:
    return tmp / "sub-01_bold.nii.gz"


def _empty(tmp: Path, kit: SimpleNamespace) -> Path:
    path = tmp / "empty_bold.nii.gz"
    path.touch()
    return path


def _random(suffix: str) -> Builder:
    def build(tmp: Path, kit: SimpleNamespace) -> Path:
        path = tmp / f"noise{suffix}"
        path.write_bytes(np.random.default_rng(3).bytes(2000))
        return path

    return build


def _truncated_nii(tmp: Path, kit: SimpleNamespace) -> Path:
    return kit.truncate_half(kit.copy_to(kit.FUNCTIONAL, tmp))


def _truncated_gz(tmp: Path, kit: SimpleNamespace) -> Path:
    return kit.truncate_half(kit.copy_to(kit.EXAMPLE4D, tmp))


def _gzip_damage(tmp: Path, kit: SimpleNamespace) -> Path:
    return kit.flip_middle(kit.copy_to(kit.EXAMPLE4D, tmp))


def _absurd_nifti1(tmp: Path, kit: SimpleNamespace) -> Path:
    path = kit.copy_to(kit.FUNCTIONAL, tmp)
    raw = bytearray(path.read_bytes())
    struct.pack_into("<8h", raw, 40, 3, 30000, 30000, 30000, 1, 1, 1, 1)  # dim[8] int16 at byte 40
    path.write_bytes(bytes(raw))
    return path


def _absurd_nifti2(tmp: Path, kit: SimpleNamespace) -> Path:
    path = tmp / "big.nii"
    nib.save(nib.Nifti2Image(np.ones((2, 2, 2), np.float32), np.eye(4)), path)
    raw = bytearray(path.read_bytes())
    struct.pack_into("<8q", raw, 16, 3, 10**6, 10**6, 1, 1, 1, 1, 1)  # dim[8] int64 at byte 16
    path.write_bytes(bytes(raw))
    return path


def _header(**fields: object) -> Builder:
    def build(tmp: Path, kit: SimpleNamespace) -> Path:
        return kit.edit_header(_tiny(tmp, kit, name="edited.nii.gz"), **fields)

    return build


def _image(shape: tuple[int, ...], fill: Callable[[np.ndarray], None] | None = None) -> Builder:
    def build(tmp: Path, kit: SimpleNamespace) -> Path:
        data = np.ones(shape, np.float32)
        if fill is not None:
            fill(data)
        return kit.write_nifti(tmp / "vals.nii.gz", data)

    return build


def _nan_inf(data: np.ndarray) -> None:
    data.flat[:3] = np.nan
    data.flat[5:7] = np.inf


def _singular_affine(tmp: Path, kit: SimpleNamespace) -> Path:
    img = nib.Nifti1Image(np.ones((4, 4, 3, 5), np.float32), np.eye(4))
    aff = np.eye(4)
    aff[2, :3] = aff[0, :3]  # z row equal to x row: the voxel grid collapses onto a plane
    img.set_sform(aff, code=1)
    img.set_qform(None, code=0)
    nib.save(img, tmp / "flat.nii.gz")
    return tmp / "flat.nii.gz"


def _mgh(tmp: Path, kit: SimpleNamespace) -> Path:
    nib.save(nib.MGHImage(np.ones((4, 4, 3, 5), np.float32), np.eye(4)), tmp / "brain.mgz")
    return tmp / "brain.mgz"


def _pair(tmp: Path, kit: SimpleNamespace) -> Path:
    nib.save(nib.Nifti1Pair(np.ones((4, 4, 3, 5), np.float32), np.eye(4)), tmp / "pair.hdr")
    return tmp / "pair.hdr"


def _complex(tmp: Path, kit: SimpleNamespace) -> Path:
    nib.save(nib.Nifti1Image(np.ones((4, 4, 3, 5), np.complex64), np.eye(4)), tmp / "cplx.nii")
    return tmp / "cplx.nii"


def _directory(tmp: Path, kit: SimpleNamespace) -> Path:
    (tmp / "dir.nii.gz").mkdir()
    return tmp / "dir.nii.gz"


CORRUPT: list[tuple[str, Builder, tuple[str, ...]]] = [
    ("missing", _missing, ("not found",)),
    ("empty", _empty, ("empty",)),
    ("random-bytes-nii", _random(".nii"), ("not a NIfTI",)),
    ("random-bytes-gz", _random(".nii.gz"), ("gzip",)),
    ("truncated-nii", _truncated_nii, ("truncated",)),
    ("truncated-gz", _truncated_gz, ("truncated",)),
    ("gzip-damage", _gzip_damage, ("damaged",)),
    ("absurd-dims-nifti1", _absurd_nifti1, ("absurd",)),
    ("absurd-dims-nifti2-1e6", _absurd_nifti2, ("absurd",)),
    ("too-many-voxels", _header(dim=[4, 4000, 4000, 4000, 5, 1, 1, 1]), ("voxels",)),
    ("negative-dim", _header(dim=[4, 4, -4, 3, 5, 1, 1, 1]), ("dimension < 1",)),
    ("bad-dim0", _header(dim=[0, 4, 4, 3, 5, 1, 1, 1]), ("dim[0]",)),
    ("zero-pixdim", _header(pixdim=[1, 0, 4, 4, 2, 1, 1, 1]), ("voxel size",)),
    ("negative-pixdim", _header(pixdim=[1, 4, -4, 4, 2, 1, 1, 1]), ("voxel size",)),
    ("nan-pixdim", _header(pixdim=[1, 4, 4, np.nan, 2, 1, 1, 1]), ("voxel size",)),
    ("unknown-datatype", _header(datatype=999), ("datatype",)),
    ("nan-vox-offset", _header(vox_offset=np.nan), ("vox_offset",)),
    ("nan-affine", _header(sform_code=1, qform_code=0, srow_x=[np.nan, 0, 0, 0]), ("affine",)),
    ("singular-affine", _singular_affine, ("invertible",)),
    ("3d-for-4d", _image((4, 4, 3)), ("expected a 4D", "3D")),
    ("single-volume", _image((4, 4, 3, 1)), ("single volume",)),
    ("5d", _image((4, 4, 3, 2, 2)), ("5D",)),
    ("nan-inf-values", _image((4, 4, 3, 5), _nan_inf), ("3 NaN and 2 Inf",)),
    ("mgh-format", _mgh, ("not a NIfTI",)),
    ("nifti-pair", _pair, ("single-file",)),
    ("complex-data", _complex, ("data type",)),
    ("directory", _directory, ("regular file",)),
]


@pytest.mark.parametrize(("builder", "keywords"), [c[1:] for c in CORRUPT], ids=[c[0] for c in CORRUPT])
def test_bad_file_is_one_line_error_naming_file_and_problem(
    tmp_path: Path, kit: SimpleNamespace, builder: Builder, keywords: tuple[str, ...]
) -> None:
    path = builder(tmp_path, kit)
    with pytest.raises(InputError) as info:
        read_nifti(path, 4, role="BOLD run")
    kit.assert_one_line_error(info.value, path, *keywords)
    assert info.value.path == str(path)


@pytest.mark.parametrize(
    ("source", "ndim", "shape"),
    [
        ("FUNCTIONAL", 4, (17, 21, 3, 20)),
        ("EXAMPLE4D", 4, (128, 96, 24, 2)),
        ("SMALL_64D", 4, (10, 10, 10, 65)),
        ("FUNCTIONAL", (3, 4), (17, 21, 3, 20)),
    ],
)
def test_real_files_read_as_float32(
    kit: SimpleNamespace, source: str, ndim: int | tuple[int, ...], shape: tuple[int, ...]
) -> None:
    path = getattr(kit, source)
    path = path[0] if isinstance(path, tuple) else path
    img, data = read_nifti(path, ndim)
    assert data.dtype == np.float32 and data.shape == shape
    np.testing.assert_allclose(data, np.asarray(img.dataobj, dtype=np.float32))


@pytest.mark.parametrize("shape", [(4, 4, 3), (4, 4, 3, 1), (4, 4, 3, 1, 1)])
def test_trailing_singletons_are_3d(tmp_path: Path, kit: SimpleNamespace, shape: tuple[int, ...]) -> None:
    _, data = read_nifti(_image(shape)(tmp_path, kit), 3, role="T1w image")
    assert data.shape == (4, 4, 3)
    assert effective_shape(shape) == (4, 4, 3)


def test_header_check_reads_no_data(tmp_path: Path, kit: SimpleNamespace) -> None:
    """The cheap check passes a truncated .nii.gz (its header is intact); the data read catches it."""
    path = _truncated_gz(tmp_path, kit)
    img = check_nifti_header(path, 4)
    with pytest.raises(InputError, match="truncated"):
        read_nifti_data(img)


def test_max_voxels_is_configurable(tmp_path: Path, kit: SimpleNamespace) -> None:
    with pytest.raises(InputError, match="above the limit of 100 voxels"):
        read_nifti(_tiny(tmp_path, kit), 4, max_voxels=100)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(offset=st.integers(0, 700), value=st.integers(1, 255), gz=st.booleans(), garbage=st.binary(max_size=600))
def test_any_corruption_gives_input_error_or_valid_data(
    kit: SimpleNamespace, offset: int, value: int, gz: bool, garbage: bytes
) -> None:
    """Flipped header/data bytes and arbitrary bytes never escape as anything but an InputError."""
    with tempfile.TemporaryDirectory() as tmp:
        path = _tiny(Path(tmp), kit, shape=(6, 5, 4, 3), name="x.nii.gz" if gz else "x.nii")
        raw = bytearray(path.read_bytes())
        raw[offset % len(raw)] ^= value
        path.write_bytes(bytes(raw))
        junk = Path(tmp) / ("junk.nii.gz" if gz else "junk.nii")
        junk.write_bytes(garbage)
        for candidate in (path, junk):
            try:
                _, data = read_nifti(candidate, (3, 4), max_voxels=10**6)
            except InputError as err:
                assert "\n" not in str(err) and os.fspath(candidate) in str(err)
            else:
                assert np.isfinite(data).all()
