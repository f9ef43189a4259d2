"""ITK's HDF5 transform files (what antsRegistration, fMRIPrep and QSIPrep write as ``*_xfm.h5``), read with h5py.

Layout: ``TransformGroup/0`` is a ``CompositeTransform_*`` header, followed by its transforms ``1, 2, ...`` in
the composite's queue order (a file holding one plain transform has it at ``0``). Each group has
``TransformType``, ``TransformParameters`` and ``TransformFixedParameters`` (old ITK spelt them
``Tranform...``). An ``AffineTransform_*`` has 9 row-major matrix elements then 3 translations, and its centre c
as fixed parameters: p -> M (p - c) + c + t. A ``DisplacementFieldTransform_*`` has its grid as fixed
parameters (size, origin, spacing, 3x3 row-major direction) and its vectors interleaved per voxel, x fastest:
p -> p + u(p). Everything is in ITK's LPS millimetres.

ITK applies a composite's queue from the back: the transform added last moves a point first. `point_order`
returns the transforms in the order they act on a point, which is what the callers reason about.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np

LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


class UnusableTransform(Exception):
    """A transform file that cannot be used here, with why (one line)."""


@dataclass(frozen=True)
class Affine:
    """An ITK affine as a 4x4 matrix acting on LPS points."""

    lps: np.ndarray


@dataclass(frozen=True)
class Field:
    """A displacement field: (X, Y, Z, 1, 3) LPS-mm vectors on a grid whose affine is RAS (as NIfTI stores it)."""

    image: nib.Nifti1Image


def _read(group: object, name: str) -> np.ndarray:
    for spelling in (f"Transform{name}", f"Tranform{name}"):
        if spelling in group:  # type: ignore[operator]
            return np.asarray(group[spelling], dtype=np.float64).ravel()  # type: ignore[index]
    raise UnusableTransform(f"its transform has no Transform{name}")


def _kind(group: object) -> str:
    raw = np.asarray(group["TransformType"]).ravel()[0]  # type: ignore[index]
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def _affine(group: object) -> Affine:
    params, center = _read(group, "Parameters"), _read(group, "FixedParameters")
    if params.size != 12 or center.size != 3:
        raise UnusableTransform("its AffineTransform is not 3D")
    matrix, translation = params[:9].reshape(3, 3), params[9:]
    out = np.eye(4)
    out[:3, :3] = matrix
    out[:3, 3] = translation + center - matrix @ center
    return Affine(out)


def _field(group: object) -> Field:
    fixed, params = _read(group, "FixedParameters"), _read(group, "Parameters")
    if fixed.size != 18:
        raise UnusableTransform("its DisplacementFieldTransform is not 3D")
    shape = tuple(int(s) for s in np.rint(fixed[:3]))
    origin, spacing, direction = fixed[3:6], fixed[6:9], fixed[9:].reshape(3, 3)
    if params.size != 3 * int(np.prod(shape)):
        raise UnusableTransform(f"its displacement field has {params.size} values for a {shape} grid")
    if min(shape) < 1 or not np.all(np.isfinite(fixed)) or abs(np.linalg.det(direction * spacing)) < 1e-9:
        raise UnusableTransform("its displacement field's grid is degenerate (zero spacing or direction)")
    vectors = params.reshape(3, *shape, order="F")  # the vector index varies fastest, then x, y, z
    data = np.moveaxis(vectors, 0, -1)[:, :, :, None, :].astype(np.float32)
    lps = np.eye(4)
    lps[:3, :3] = direction * spacing  # column j: the direction of index axis j times its spacing
    lps[:3, 3] = origin
    image = nib.Nifti1Image(data, LPS @ lps)
    image.header.set_intent("vector")
    return Field(image)


def point_order(path: Path) -> list[Affine | Field]:
    """The transforms of an ITK .h5 file in the order they move a point (see the module)."""
    import h5py

    try:
        with h5py.File(str(path), "r") as handle:
            groups = handle["TransformGroup"]
            keys = sorted(groups, key=int)
            if keys and _kind(groups[keys[0]]).startswith("CompositeTransform"):
                keys = keys[1:]
            queue: list[Affine | Field] = []
            for key in keys:
                kind = _kind(groups[key])
                if kind.startswith(("AffineTransform", "MatrixOffsetTransformBase")):
                    queue.append(_affine(groups[key]))
                elif kind.startswith("DisplacementFieldTransform"):
                    queue.append(_field(groups[key]))
                else:
                    raise UnusableTransform(f"it holds a {kind}, which is not supported (affine and displacement "
                                            "field only)")  # fmt: skip
    except UnusableTransform:
        raise
    except Exception as err:  # not HDF5, or not ITK's layout
        raise UnusableTransform(f"not a readable ITK transform file ({type(err).__name__}: {err})") from None
    if not queue:
        raise UnusableTransform("it holds no transform")
    for item in queue:
        values = item.lps if isinstance(item, Affine) else np.asarray(item.image.dataobj)
        if not np.all(np.isfinite(values)):
            raise UnusableTransform("it holds non-finite numbers")
    return queue[::-1]
