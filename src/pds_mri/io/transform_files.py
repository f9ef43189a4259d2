"""A registration's files in a prepared directory: the JSON (``*_xfm.json``: the affine ``Matrix``, which files
form the whole transform and in what order, QC, and what it was made from) and, after SyN, its two displacement
fields beside it (`layout.warp_of`). No pickle and no ANTs .mat: a 4×4 matrix in JSON and NIfTI fields.

The JSON's ``Reference`` (path, size, SHA-256 of the image registered) and ``Registration`` / ``Template`` /
``Seed`` are the cache key: a re-run into the same directory that finds them equal re-uses the transform
(`cached`) instead of registering again.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from pds_mri.errors import InputError
from pds_mri.io.atomic import save_nifti, write_json
from pds_mri.io.layout import MNI_SPACE, warp_of
from pds_mri.preprocess.transform import ToMNI

POINTS = (
    "ITK/ANTs conventions: a field's vectors are LPS mm (x, y negated from RAS), on the registration template's "
    "grid. Resampling a native image into MNI: for an MNI point y, the native point is inv(Matrix) @ (y + u(y)), "
    "u the from-native_to-MNI field. Resampling an MNI image into native space: for a native point x, "
    "y' = Matrix @ x, then the MNI point is y' + v(y'), v the from-MNI_to-native field."
)


def reference_record(path: str | Path | None) -> dict[str, Any]:
    """What a registration was made from: the image's path, size and SHA-256 (the cache key); {} without a
    readable file (nothing to compare a later run with: it registers again)."""
    if path is None or not Path(path).is_file():
        return {}
    path = Path(path)
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return {"Path": str(path.resolve()), "Bytes": path.stat().st_size, "SHA256": digest.hexdigest()}


def transform_json(transform: ToMNI, name: str, record: dict[str, Any]) -> dict[str, Any]:
    """The JSON of a registration stored as `name` (relative to the prepared dir); `record`: Method, QC, Dice,
    Registration, Reference, Template, Seed."""
    out: dict[str, Any] = {
        "Description": f"mapping this subject's native world coordinates (RAS mm) to {MNI_SPACE} (RAS mm)"
        + (": an affine then a SyN displacement field" if transform.nonlinear else ": x_mni = M @ [x, y, z, 1]")
        + "; the native maps keep their own affine",
        "Matrix": np.asarray(transform.matrix, dtype=np.float64).tolist(),  # exact: a cached re-run uses it as is
    }
    if transform.nonlinear:
        forward, inverse = warp_of(name), warp_of(name, inverse=True)
        out["Transforms"] = {  # files relative to the prepared dir, in the order antsApplyTransforms takes them
            f"from-native_to-{MNI_SPACE}": [forward, "Matrix"],
            f"from-{MNI_SPACE}_to-native": ["Matrix (inverted)", inverse],
        }
        out["PointMapping"] = POINTS
    return out | record


def write_transform(out_dir: Path, name: str, transform: ToMNI, record: dict[str, Any]) -> None:
    """The JSON at `name` and, for SyN, its fields beside it (all below `out_dir`)."""
    write_json(Path(out_dir) / name, transform_json(transform, name, record))
    if transform.warp is not None and transform.inverse_warp is not None:
        save_nifti(transform.warp, Path(out_dir) / warp_of(name))
        save_nifti(transform.inverse_warp, Path(out_dir) / warp_of(name, inverse=True))


def read_transform(root: Path, name: str, hint: str = "run `pds prepare` again") -> ToMNI:
    """The transform a registration JSON (relative to `root`) records, with its fields when it lists them."""
    from pds_mri.io.json_files import field, read_json

    path = Path(root) / name
    payload = read_json(path, "registration", hint)
    try:
        matrix = np.asarray(field(payload, "Matrix", list, path), dtype=np.float64)
    except (ValueError, TypeError):
        raise InputError(path, f"Matrix is not a 4x4 array of numbers; {hint}") from None
    if matrix.shape != (4, 4) or not np.all(np.isfinite(matrix)):
        raise InputError(path, "Matrix must be a finite 4x4 affine")
    if "Transforms" not in payload:
        return ToMNI(matrix)
    fields = []
    for inverse in (False, True):
        warp = Path(root) / warp_of(name, inverse)
        try:
            img = nib.Nifti1Image.from_filename(warp)
            data = np.asarray(img.dataobj, dtype=np.float32)
        except Exception:
            raise InputError(warp, f"the displacement field it lists is missing or unreadable; {hint}") from None
        if data.ndim != 5 or data.shape[3:] != (1, 3) or not np.all(np.isfinite(data)):
            raise InputError(warp, f"not a displacement field (X, Y, Z, 1, 3) of finite numbers; {hint}")
        fields.append(nib.Nifti1Image(data, img.affine, img.header))
    return ToMNI(matrix, fields[0], fields[1])


def cached(previous: Path | None, name: str, key: dict[str, Any]) -> tuple[ToMNI, dict[str, Any]] | None:
    """The transform an earlier run stored at `previous / name`, when its cache key equals `key` (and its
    files read back); None otherwise: register again."""
    if previous is None or not key.get("Reference") or not (Path(previous) / name).is_file():
        return None
    try:
        payload = json.loads((Path(previous) / name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(payload, dict) or any(payload.get(k) != v for k, v in key.items()):
        return None
    try:
        return read_transform(Path(previous), name), payload
    except InputError:
        return None
