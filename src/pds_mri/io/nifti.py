"""Validated NIfTI reading: every way a NIfTI file can be bad becomes one InputError naming the file.

Order matters. The raw header is read and checked *before* nibabel builds the image, because nibabel
silently "fixes" zero or negative voxel sizes, and before any data is read, so that a corrupt header
claiming 10^6 x 10^6 voxels is refused instead of exhausting memory. Only then is the data read in full
(gzip damage and truncation only show when the last byte is decompressed).
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path
from typing import cast

import nibabel as nib
import numpy as np
from nibabel.filebasedimages import ImageFileError
from nibabel.openers import ImageOpener
from nibabel.spatialimages import HeaderDataError

from pds_mri.errors import InputError

PathLike = str | os.PathLike[str]

DEFAULT_MAX_VOXELS = 2**31 // 4  # 2 GiB as float32: far above any brain MRI we accept
MAX_SPATIAL_DIM = 4096  # no MRI has 4096 voxels along an axis; more means a corrupt header
MAX_OTHER_DIM = 100_000  # volumes of a run (HCP-style runs have ~1200)

# Everything nibabel, gzip and numpy raise for unreadable bytes.
_READ_ERRORS = (
    ImageFileError,
    HeaderDataError,
    OSError,  # includes gzip.BadGzipFile
    EOFError,
    ValueError,
    zlib.error,
    struct.error,
    KeyError,  # unknown datatype / intent codes
    MemoryError,
)

_MAGIC = {348: (nib.Nifti1Header, b"n+1"), 540: (nib.Nifti2Header, b"n+2")}


def _describe(exc: BaseException) -> str:
    """An exception as a short single line (nibabel messages can span lines)."""
    text = " ".join(str(exc).split()) or exc.__class__.__name__
    return text if len(text) <= 160 else text[:157] + "..."


def _is_gzip(path: Path) -> bool:
    return path.name.lower().endswith(".gz")


def _fmt_shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(int(s)) for s in shape) + ")"


def effective_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Drop trailing singleton axes beyond the third: (x, y, z, 1) is a 3D volume, not a 4D run."""
    out = [int(s) for s in shape]
    while len(out) > 3 and out[-1] == 1:
        out.pop()
    return tuple(out)


def load_nifti(path: PathLike) -> nib.Nifti1Image:
    """`nib.load`, typed as the NIfTI image it returns for the project's .nii/.nii.gz files.

    No validation (see `check_nifti_header` for that); only the static type is narrowed.
    """
    return cast(nib.Nifti1Image, nib.load(path))


def check_file(path: Path) -> None:
    """A readable, non-empty regular file, or a one-line InputError saying which it is not."""
    if not path.exists():
        raise InputError(path, "file not found")
    if not path.is_file():
        raise InputError(path, "not a regular file")
    if path.stat().st_size == 0:
        raise InputError(path, "empty file (0 bytes)")


def _read_raw_header(path: Path) -> nib.Nifti1Header:
    """The header exactly as stored (check=False), so nothing is silently repaired."""
    try:
        with ImageOpener(path) as f:  # type: ignore[arg-type]  # nibabel annotates str | IOBase, opens PathLike
            block = f.read(540)
    except (OSError, EOFError, zlib.error) as exc:
        kind = "damaged or not gzip-compressed" if _is_gzip(path) else "unreadable"
        raise InputError(path, f"{kind}: {_describe(exc)}") from None
    for endian in ("<", ">"):
        if len(block) < 4:
            break
        size = struct.unpack(f"{endian}i", block[:4])[0]
        if size in _MAGIC and len(block) >= size:
            header_class, magic = _MAGIC[size]
            try:
                hdr = header_class(binaryblock=block[:size], check=False)
            except _READ_ERRORS as exc:
                raise InputError(path, f"not a valid NIfTI header: {_describe(exc)}") from None
            found = bytes(hdr["magic"])[:3]
            if found != magic:
                raise InputError(path, f"not a single-file NIfTI (magic {found!r}, expected {magic!r})")
            return hdr
    raise InputError(path, "not a NIfTI file (no valid NIfTI-1/2 header)")


def _check_header_fields(path: Path, hdr: nib.Nifti1Header, max_voxels: int) -> tuple[int, ...]:
    """Dimensions, data type and voxel sizes, from the header only; returns the stored shape."""
    dim = [int(d) for d in hdr["dim"]]
    nd = dim[0]
    if not 1 <= nd <= 7:
        raise InputError(path, f"corrupt header: dim[0]={nd} is not a number of dimensions (1-7)")
    shape = tuple(dim[1 : nd + 1])
    if min(shape) < 1:
        raise InputError(path, f"corrupt header: shape {_fmt_shape(shape)} has a dimension < 1")
    if max(shape[:3]) > MAX_SPATIAL_DIM or (len(shape) > 3 and max(shape[3:]) > MAX_OTHER_DIM):
        raise InputError(
            path,
            f"corrupt header: absurd shape {_fmt_shape(shape)} "
            f"(limits: {MAX_SPATIAL_DIM} per spatial axis, {MAX_OTHER_DIM} volumes)",
        )
    n_voxels = int(np.prod(shape, dtype=np.int64))
    if n_voxels > max_voxels:
        gib = n_voxels * 4 / 2**30
        raise InputError(
            path,
            f"header claims shape {_fmt_shape(shape)} = {n_voxels} voxels ({gib:.1f} GiB as float32), "
            f"above the limit of {max_voxels} voxels",
        )
    try:
        dtype = hdr.get_data_dtype()
    except _READ_ERRORS:
        raise InputError(path, f"corrupt header: unknown datatype code {int(hdr['datatype'])}") from None
    if dtype.fields is not None or dtype.kind not in "biuf":
        raise InputError(path, f"unsupported voxel data type {dtype} (need real-valued scalars)")
    pixdim = np.asarray(hdr["pixdim"][1 : 1 + min(nd, 3)], dtype=np.float64)
    if not np.all(np.isfinite(pixdim)):
        raise InputError(path, f"non-finite voxel size in header pixdim {pixdim.tolist()}")
    if np.any(pixdim <= 0):
        raise InputError(path, f"zero or negative voxel size in header pixdim {pixdim.tolist()}")
    return shape


def _check_dimensionality(path: Path, shape: tuple[int, ...], ndim: int | tuple[int, ...], role: str) -> None:
    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    eff = effective_shape(shape)
    if len(eff) in allowed:
        return
    want = " or ".join(f"{n}D" for n in allowed)
    if len(eff) == 3 and len(shape) > 3 and 4 in allowed:
        got = f"a single volume with shape {_fmt_shape(shape)}"
    else:
        got = f"{len(eff)}D with shape {_fmt_shape(shape)}"
    raise InputError(path, f"expected a {want} {role}, got {got}")


def _check_affine(path: Path, affine: np.ndarray) -> None:
    if not np.all(np.isfinite(affine)):
        raise InputError(path, "non-finite values in the affine (sform/qform)")
    cond = np.linalg.cond(affine[:3, :3])
    if not np.isfinite(cond) or cond > 1e6:
        raise InputError(path, "affine (sform/qform) is not invertible: voxels do not map to a 3D space")


def check_nifti_header(
    path: PathLike,
    ndim: int | tuple[int, ...],
    role: str = "image",
    max_voxels: int = DEFAULT_MAX_VOXELS,
) -> nib.Nifti1Image:
    """Every check that needs only the header; returns the (lazy) image without reading voxel data.

    Cheap enough to run over a whole cohort; `read_nifti_data` then reads and checks the voxels.
    `ndim` is the wanted dimensionality after dropping trailing singleton axes (see `effective_shape`).
    """
    path = Path(path)
    check_file(path)
    hdr = _read_raw_header(path)
    shape = _check_header_fields(path, hdr, max_voxels)
    offset = float(hdr["vox_offset"])
    if not np.isfinite(offset) or offset < 0:
        raise InputError(path, f"corrupt header: vox_offset={offset:g}")
    if not _is_gzip(path):
        needed = int(offset) + int(np.prod(shape, dtype=np.int64)) * hdr.get_data_dtype().itemsize
        size = path.stat().st_size
        if size < needed:
            raise InputError(path, f"truncated file: {size} bytes, the header needs {needed}")
    try:
        img = nib.load(path)
    except _READ_ERRORS as exc:
        raise InputError(path, f"not a readable NIfTI file: {_describe(exc)}") from None
    if not isinstance(img, nib.Nifti1Image):  # Nifti2Image is a subclass
        raise InputError(path, f"not a NIfTI file (nibabel read it as {type(img).__name__})")
    _check_affine(path, img.affine)
    _check_dimensionality(path, tuple(img.shape), ndim, role)
    return img


def read_nifti_data(img: nib.Nifti1Image) -> np.ndarray:
    """Read all voxels as float32 (scaling applied), forcing a full read to expose truncation/damage.

    Trailing singleton axes beyond the third are dropped, matching the dimensionality check.
    """
    path = Path(img.get_filename() or "<in-memory image>")
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            data = np.asarray(img.dataobj, dtype=np.float32)
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise InputError(path, f"truncated or damaged compressed data: {_describe(exc)}") from None
    except _READ_ERRORS as exc:
        raise InputError(path, f"truncated or unreadable voxel data: {_describe(exc)}") from None
    if _is_gzip(path) and path.is_file():
        _check_gzip_stream(path)
    if data.shape != tuple(img.shape):
        raise InputError(path, f"read shape {_fmt_shape(data.shape)}, header says {_fmt_shape(img.shape)}")
    if not np.isfinite(data).all():
        n_nan = int(np.isnan(data).sum())
        n_inf = int(np.isinf(data).sum())
        raise InputError(path, f"contains {n_nan} NaN and {n_inf} Inf voxel values (of {data.size})")
    return data.reshape(effective_shape(data.shape))


def _check_gzip_stream(path: Path) -> None:
    """Decompress to the end of the stream, so the gzip CRC-32 and length trailer are checked.

    nibabel stops reading once it has the voxels it needs, before the trailer: a flipped bit in the
    compressed data, or a file cut inside its last 8 bytes, would otherwise load as silently wrong voxels.
    """
    try:
        with gzip.open(path, "rb") as fh:
            while fh.read(1 << 24):
                pass
    except (EOFError, OSError, zlib.error) as exc:
        raise InputError(path, f"truncated or damaged compressed data: {_describe(exc)}") from None


def read_nifti(
    path: PathLike,
    ndim: int | tuple[int, ...],
    role: str = "image",
    max_voxels: int = DEFAULT_MAX_VOXELS,
) -> tuple[nib.Nifti1Image, np.ndarray]:
    """Validated image + its float32 voxels, read once; raises InputError("path: problem") on bad input."""
    img = check_nifti_header(path, ndim, role, max_voxels)
    return img, read_nifti_data(img)
