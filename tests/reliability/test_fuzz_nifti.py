"""Fuzzing the NIfTI reader: every header field, truncation at any byte and gzip damage.

Property: `read_nifti` either returns finite float32 voxels whose shape matches the header, or raises the
tool's own one-line InputError naming the file; never another exception, a hang or a huge allocation.
"""

from __future__ import annotations

import gzip
import io
import os
import resource
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pds_mri.errors import InputError
from pds_mri.io.nifti import effective_shape, read_nifti

from ._helpers import assert_one_line_error, no_hang

#: Bounded for the fast suite; PDS_FUZZ_EXAMPLES=5000 digs deeper.
FUZZ = settings(
    max_examples=int(os.environ.get("PDS_FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
MAX_RSS_GROWTH_MB = 600  # far below what a header claiming 10^9 voxels would cost if it were believed

DTYPES = [np.uint8, np.int16, np.int32, np.float32, np.float64, np.int8, np.uint16]
# Valid, unsupported (binary, complex, RGB, RGBA, float128, complex256) and meaningless datatype codes.
DATATYPE_CODES = [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 768, 1024, 1280, 1536, 1792, 2048, 2304, 7, 9999, -4]
ODD_FLOATS = [0.0, -1.0, 1e-30, 1e30, 3.4e38, float("nan"), float("inf"), float("-inf"), 1.0, 2.5]


def _base_image(dtype: type, shape: tuple[int, ...], nifti2: bool, seed: int) -> nib.Nifti1Image:
    rng = np.random.default_rng(seed)
    data = (rng.random(shape) * 100).astype(dtype)
    affine = np.diag([2.0, 2.0, 2.5, 1.0])
    affine[:3, 3] = (-4, -4, -3)
    cls = nib.Nifti2Image if nifti2 else nib.Nifti1Image
    img = cls(data, affine)
    img.header.set_xyzt_units("mm", "sec")
    return img


def _header_and_data(img: nib.Nifti1Image, byteorder: str) -> tuple[nib.Nifti1Header, bytes]:
    raw = img.to_bytes()
    hdr_cls = type(img.header)
    hdr = hdr_cls.from_fileobj(io.BytesIO(raw), check=False)
    offset = int(hdr["vox_offset"])
    data = raw[offset:]
    if byteorder == ">":
        hdr = hdr.as_byteswapped(">")
        arr = np.frombuffer(data, dtype=img.get_data_dtype()).byteswap()
        data = arr.tobytes()
    return hdr, data


def _assemble(hdr: nib.Nifti1Header, data: bytes, extension: bytes | None, vox_offset: float | None) -> bytes:
    block = hdr.binaryblock
    ext = b"\x00\x00\x00\x00" if extension is None else extension
    body = block + ext
    offset = len(body) if vox_offset is None else vox_offset
    pad = b"\x00" * max(0, int(offset) - len(body)) if np.isfinite(offset) and 0 <= offset < 1 << 20 else b""
    return body + pad + data


def _check_outcome(path: Path) -> None:
    """The property: valid data or one-line InputError, within the memory and time caps."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with no_hang(20):
        try:
            img, data = read_nifti(path, ndim=(1, 2, 3, 4, 5, 6, 7), role="image")
        except InputError as exc:
            assert_one_line_error(exc, path)
            return
        except Exception as exc:  # the property under test: nothing else escapes
            pytest.fail(f"{path.name}: {type(exc).__name__} escaped the reader: {exc}")
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before
    assert grown < MAX_RSS_GROWTH_MB, f"reading {path.name} grew memory by {grown:.0f} MB"
    assert data.dtype == np.float32 and np.isfinite(data).all()
    assert data.shape == effective_shape(tuple(img.shape))
    assert all(z > 0 for z in img.header.get_zooms()[:3])


image_params = st.tuples(
    st.sampled_from(DTYPES),
    st.lists(st.integers(1, 5), min_size=3, max_size=4).map(tuple),
    st.booleans(),  # NIfTI-2
    st.sampled_from(["<", ">"]),
    st.booleans(),  # gzip
    st.integers(0, 2**16),
)


@FUZZ
@given(
    params=image_params,
    dim=st.one_of(
        st.none(),
        st.tuples(
            st.integers(-3, 9),
            st.lists(
                st.one_of(st.integers(-5, 8), st.sampled_from([0, 4096, 4097, 30000, 2**15 - 1, 100_001])),
                min_size=7,
                max_size=7,
            ),
        ).map(lambda t: [t[0], *t[1]]),
    ),
    pixdim=st.one_of(st.none(), st.lists(st.sampled_from(ODD_FLOATS), min_size=8, max_size=8)),
    datatype=st.one_of(st.none(), st.sampled_from(DATATYPE_CODES)),
    bitpix=st.one_of(st.none(), st.sampled_from([0, 1, 7, 8, 16, 32, 64, 128, -8])),
    scaling=st.one_of(st.none(), st.tuples(st.sampled_from(ODD_FLOATS), st.sampled_from(ODD_FLOATS))),
    codes=st.one_of(st.none(), st.tuples(st.integers(-2, 6), st.integers(-2, 6))),
    quatern=st.one_of(st.none(), st.lists(st.sampled_from(ODD_FLOATS), min_size=6, max_size=6)),
    srow=st.one_of(st.none(), st.lists(st.sampled_from(ODD_FLOATS), min_size=12, max_size=12)),
)
def test_header_fields_load_or_raise_one_line_input_error(
    tmp_path: Path, params, dim, pixdim, datatype, bitpix, scaling, codes, quatern, srow
) -> None:
    dtype, shape, nifti2, byteorder, compress, seed = params
    hdr, data = _header_and_data(_base_image(dtype, shape, nifti2, seed), byteorder)
    if dim is not None:
        hdr["dim"] = dim if nifti2 else [min(d, 2**15 - 1) for d in dim]  # NIfTI-1 dims are int16
    if pixdim is not None:
        hdr["pixdim"] = pixdim
    if datatype is not None:
        hdr["datatype"] = datatype
    if bitpix is not None:
        hdr["bitpix"] = bitpix
    if scaling is not None:
        hdr["scl_slope"], hdr["scl_inter"] = scaling
    if codes is not None:
        hdr["qform_code"], hdr["sform_code"] = codes
    if quatern is not None:
        names = ("quatern_b", "quatern_c", "quatern_d", "qoffset_x", "qoffset_y", "qoffset_z")
        for name, value in zip(names, quatern, strict=True):
            hdr[name] = value
    if srow is not None:
        hdr["srow_x"], hdr["srow_y"], hdr["srow_z"] = srow[0:4], srow[4:8], srow[8:12]
    raw = _assemble(hdr, data, None, None)
    path = tmp_path / ("fuzz.nii.gz" if compress else "fuzz.nii")
    path.write_bytes(gzip.compress(raw, mtime=0) if compress else raw)
    _check_outcome(path)


@FUZZ
@given(
    params=image_params,
    flag=st.binary(min_size=4, max_size=4),
    esize=st.one_of(st.integers(-16, 64), st.sampled_from([2**31 - 1, -(2**31), 7, 17, 2**20])),
    ecode=st.integers(-1, 64),
    payload=st.binary(max_size=64),
    vox_offset=st.one_of(
        st.none(), st.sampled_from([0.0, -16.0, 100.0, 351.0, 353.5, 1e9, float("nan"), float("inf")])
    ),
)
def test_extensions_and_vox_offset_load_or_raise_one_line_input_error(
    tmp_path: Path, params, flag, esize, ecode, payload, vox_offset
) -> None:
    dtype, shape, nifti2, byteorder, compress, seed = params
    hdr, data = _header_and_data(_base_image(dtype, shape, nifti2, seed), byteorder)
    e = "<" if byteorder == "<" else ">"
    extension = flag + np.array([esize, ecode], dtype=f"{e}i4").tobytes() + payload
    if vox_offset is not None:
        if nifti2 and not np.isfinite(vox_offset):
            vox_offset = -(2.0**62) if np.isnan(vox_offset) else 2.0**62  # NIfTI-2 offsets are int64
        hdr["vox_offset"] = vox_offset
    else:
        hdr["vox_offset"] = len(hdr.binaryblock) + len(extension)
    raw = _assemble(hdr, data, extension, vox_offset)
    path = tmp_path / ("ext.nii.gz" if compress else "ext.nii")
    path.write_bytes(gzip.compress(raw, mtime=0) if compress else raw)
    _check_outcome(path)


@FUZZ
@given(params=image_params, cut=st.floats(0.0, 1.0, exclude_max=True))
def test_truncation_at_any_byte_is_an_input_error(tmp_path: Path, params, cut: float) -> None:
    dtype, shape, nifti2, byteorder, compress, seed = params
    hdr, data = _header_and_data(_base_image(dtype, shape, nifti2, seed), byteorder)
    raw = _assemble(hdr, data, None, None)
    blob = gzip.compress(raw, mtime=0) if compress else raw
    path = tmp_path / ("cut.nii.gz" if compress else "cut.nii")
    path.write_bytes(blob[: int(cut * len(blob))])
    with pytest.raises(InputError) as info, no_hang(20):
        read_nifti(path, ndim=(3, 4))
    assert_one_line_error(info.value, path)


@FUZZ
@given(
    params=image_params,
    where=st.floats(0.0, 1.0, exclude_max=True),
    damage=st.sampled_from(["flip", "zero", "insert", "drop", "crc", "trailing-garbage", "double-gzip", "plain"]),
    value=st.integers(1, 255),
)
def test_gzip_damage_loads_correctly_or_is_an_input_error(tmp_path: Path, params, where, damage, value) -> None:
    dtype, shape, nifti2, byteorder, _, seed = params
    img = _base_image(dtype, shape, nifti2, seed)
    hdr, data = _header_and_data(img, byteorder)
    raw = _assemble(hdr, data, None, None)
    blob = bytearray(gzip.compress(raw, mtime=0))
    i = int(where * len(blob))
    if damage == "flip":
        blob[i] ^= value
    elif damage == "zero":
        blob[i : i + 8] = bytes(len(blob[i : i + 8]))
    elif damage == "insert":
        blob[i:i] = bytes([value]) * 3
    elif damage == "drop":
        del blob[i : i + 3]
    elif damage == "crc":
        blob[-8] ^= value  # CRC32 of the member: data intact, check fails
    elif damage == "trailing-garbage":
        blob += bytes([value]) * 5
    elif damage == "double-gzip":
        blob = bytearray(gzip.compress(bytes(blob), mtime=0))
    elif damage == "plain":
        blob = bytearray(raw)  # uncompressed bytes behind a .nii.gz name
    path = tmp_path / "damaged.nii.gz"
    path.write_bytes(bytes(blob))
    _check_outcome(path)
    if damage in ("flip", "zero", "insert", "drop", "crc") and blob != bytearray(gzip.compress(raw, mtime=0)):
        try:
            _, got = read_nifti(path, ndim=(3, 4))
        except InputError:
            return
        # Damage that the reader accepted must not have changed a single voxel silently.
        want = np.asarray(nib.Nifti1Image.from_bytes(raw).dataobj if not nifti2 else img.dataobj, np.float32)
        np.testing.assert_array_equal(got, want.reshape(got.shape))


@pytest.mark.parametrize(
    "content",
    [b"", b"\x00", b"not a nifti at all\n" * 40, b"\x5c\x01\x00\x00" + b"\x00" * 400, zlib.compress(b"x" * 400)],
    ids=["empty", "one-byte", "text", "zeros-with-sizeof", "zlib-not-gzip"],
)
@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_garbage_files_are_input_errors(tmp_path: Path, content: bytes, suffix: str) -> None:
    path = tmp_path / f"junk{suffix}"
    path.write_bytes(content)
    with pytest.raises(InputError) as info:
        read_nifti(path, ndim=(3, 4))
    assert_one_line_error(info.value, path)


def test_a_directory_and_a_missing_file_are_input_errors(tmp_path: Path) -> None:
    (tmp_path / "dir.nii.gz").mkdir()
    for path in (tmp_path / "dir.nii.gz", tmp_path / "missing.nii"):
        with pytest.raises(InputError) as info:
            read_nifti(path, ndim=3)
        assert_one_line_error(info.value, path)


@pytest.mark.parametrize("claimed", [(4096, 4096, 4096), (2000, 2000, 1000, 100), (4096, 4096, 2000)])
def test_headers_claiming_huge_images_are_refused_before_reading(tmp_path: Path, claimed: tuple[int, ...]) -> None:
    """A 400-byte gzip claiming gigabytes: refused from the header, without allocating."""
    hdr, data = _header_and_data(_base_image(np.float32, (2, 2, 2), False, 0), "<")
    hdr["dim"] = [len(claimed), *claimed, *([1] * (7 - len(claimed)))]
    for suffix in (".nii", ".nii.gz"):
        path = tmp_path / f"huge{suffix}"
        raw = _assemble(hdr, data, None, None)
        path.write_bytes(gzip.compress(raw, mtime=0) if suffix.endswith("gz") else raw)
        _check_outcome(path)
        with pytest.raises(InputError):
            read_nifti(path, ndim=(3, 4))
