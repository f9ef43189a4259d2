"""ITK .h5 composite transforms written with h5py in ITK's own layout (as antsRegistration, fMRIPrep and QSIPrep
write them), and smooth displacement fields to put in them (shared by the derivative-transform tests)."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


def _string(group: object, name: str, text: str) -> None:
    import h5py

    group.create_dataset(name, data=np.array([text], dtype=object), dtype=h5py.string_dtype("ascii"))  # type: ignore[attr-defined]


def write_composite(path: Path, queue: list[np.ndarray | nib.Nifti1Image], precision: str = "double") -> Path:
    """An ITK CompositeTransform: `queue` in ITK's queue order (the last one moves a point first); an ndarray is
    a 4x4 LPS affine (written with a non-zero centre, as ANTs does), an image an (X, Y, Z, 1, 3) LPS field on a
    RAS grid."""
    import h5py

    with h5py.File(str(path), "w") as f:
        for name, text in (("HDFVersion", "1.10.4"), ("ITKVersion", "5.3.0"), ("OSName", "Linux")):
            _string(f, name, text)
        top = f.create_group("TransformGroup")
        head = top.create_group("0")
        _string(head, "TransformType", f"CompositeTransform_{precision}_3_3")
        for k, item in enumerate(queue, start=1):
            group = top.create_group(str(k))
            if isinstance(item, np.ndarray):
                center = np.array([3.0, -7.0, 11.0])
                matrix, offset = item[:3, :3], item[:3, 3]
                translation = offset - center + matrix @ center  # p -> M (p - c) + c + t
                _string(group, "TransformType", f"AffineTransform_{precision}_3_3")
                group.create_dataset("TransformParameters", data=np.r_[matrix.ravel(), translation])
                group.create_dataset("TransformFixedParameters", data=center)
            else:
                lps = LPS @ item.affine
                spacing = np.linalg.norm(lps[:3, :3], axis=0)
                direction = lps[:3, :3] / spacing
                fixed = np.r_[np.asarray(item.shape[:3], float), lps[:3, 3], spacing, direction.ravel()]
                data = np.asarray(item.dataobj, dtype=np.float64).reshape(*item.shape[:3], 3)
                _string(group, "TransformType", f"DisplacementFieldTransform_{precision}_3_3")
                group.create_dataset("TransformParameters", data=np.moveaxis(data, -1, 0).ravel(order="F"))
                group.create_dataset("TransformFixedParameters", data=fixed)
    return path


def wave(points: np.ndarray, amplitude: float = 3.0) -> np.ndarray:
    """A smooth displacement (3, N) RAS mm at RAS points (3, N): a few-mm sinusoid, no folding."""
    x, y, z = points
    return amplitude * np.stack(
        [np.sin(y / 23.0 + 0.3), np.cos(z / 19.0) * np.sin(x / 29.0), 0.7 * np.sin((x + y) / 31.0)]
    )


def tapered(affine: np.ndarray, shape: tuple[int, ...], amplitude: float = 3.0):  # type: ignore[no-untyped-def]
    """`wave` faded smoothly to 0 at the grid border, as a SyN field is at the template's border (a function
    of RAS points, so its exact inverse can be computed)."""
    inverse = np.linalg.inv(affine)
    size = np.asarray(shape[:3], float)[:, None] - 1

    def displacement(points: np.ndarray) -> np.ndarray:
        t = np.clip((inverse[:3, :3] @ points + inverse[:3, 3:]) / size, 0, 1)  # 0..1 across the grid
        window = np.prod(np.sin(np.pi * t), axis=0) ** 0.5
        return wave(points, amplitude) * window

    return displacement


def field_image(affine: np.ndarray, shape: tuple[int, int, int], ras: np.ndarray) -> nib.Nifti1Image:
    """(X, Y, Z, 1, 3) LPS vectors from RAS vectors (3, N) at the grid's points."""
    data = (ras.T * np.array([-1.0, -1.0, 1.0])).reshape(*shape, 1, 3).astype(np.float32)
    img = nib.Nifti1Image(data, affine)
    img.header.set_intent("vector")
    return img


def grid_points(affine: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    ijk = np.indices(shape[:3], dtype=np.float64).reshape(3, -1)
    return affine[:3, :3] @ ijk + affine[:3, 3:]


def inverse_of(displacement, points: np.ndarray, iterations: int = 60) -> np.ndarray:  # type: ignore[no-untyped-def]
    """The inverse of an analytic displacement at `points`: v with p + v + d(p + v) = p (fixed point)."""
    v = -displacement(points)
    for _ in range(iterations):
        v = -displacement(points + v)
    return v
