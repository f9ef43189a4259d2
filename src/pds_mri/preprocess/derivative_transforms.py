"""fMRIPrep/QSIPrep transforms to MNI152, applied instead of registering again (ITK files).

A derivative image in a non-MNI space (fMRIPrep ``space-T1w`` BOLD, QSIPrep ``space-ACPC`` / ``space-T1w`` DWI)
lies in the frame of the subject's anatomical reference; the same derivative holds that frame's transform,
``anat/sub-X[_ses-Y]_from-{T1w|ACPC}_to-MNI152NLin2009cAsym_mode-image_xfm.{h5,txt}``. Its ITK file maps MNI
points to subject points (what resamples a subject image into MNI); nitransforms reads it into RAS, and its
inverse is the subject → MNI matrix the rest of `pds prepare` uses.

An ITK .txt affine (read with nitransforms), or an .h5 composite (preprocess/itk_h5.py): fMRIPrep's and
QSIPrep's hold an affine and a SyN displacement field that acts on the MNI point first, native = A(y + u(y)),
which is `ToMNI(matrix, warp)` as it is. Native-space outputs need the inverse field: the reverse file
``from-MNI152NLin2009cAsym_to-{T1w|ACPC}_mode-image_xfm.h5`` when the derivative has it (its affine must be the
forward's inverse), else the forward field inverted numerically (preprocess/field_inverse.py). A file that
cannot be used entirely raises UnusableTransform, and the caller says so and registers with ANTs: nothing is
applied half.
"""

from __future__ import annotations

import re
from pathlib import Path

import nibabel as nib
import numpy as np

from pds_mri.preprocess.itk_h5 import LPS, Affine, Field, UnusableTransform, point_order
from pds_mri.preprocess.transform import ToMNI

FRAMES = ("T1w", "ACPC")
TARGET = "MNI152NLin2009cAsym"
_SPACE = re.compile(r"_space-([A-Za-z0-9]+)_")


def space_of(image: Path) -> str | None:
    match = _SPACE.search(Path(image).name)
    return match.group(1) if match else None


def transform_file(image: Path, default_space: str | None = None) -> Path | None:
    """The derivative's transform for an image in a T1w/ACPC space (`default_space` for a name without one,
    as fMRIPrep's own ``desc-preproc_T1w``): anat/ of its session folder, else of its subject folder (fMRIPrep
    keeps one subject-level anatomy, ``sub-X_from-T1w_to-…``, for all sessions of a longitudinal subject)."""
    space = space_of(image) or default_space
    if space not in FRAMES:
        return None
    name = Path(image).name
    prefix = name.split("_space-")[0] if "_space-" in name else name.split(".")[0]
    ents = dict(p.split("-", 1) for p in prefix.split("_") if "-" in p)
    stems = dict.fromkeys(["_".join(f"{k}-{ents[k]}" for k in ("sub", "ses") if k in ents), f"sub-{ents.get('sub')}"])
    for folder in (Path(image).parent.parent / "anat", Path(image).parent.parent.parent / "anat"):
        for stem in stems:
            for ext in (".h5", ".txt"):
                candidate = folder / f"{stem}_from-{space}_to-{TARGET}_mode-image_xfm{ext}"
                if candidate.is_file():
                    return candidate
    return None


def reverse_file(forward: Path) -> Path | None:
    """The derivative's reverse composite (``from-MNI152NLin2009cAsym_to-{T1w|ACPC}``) beside `forward`."""
    name = Path(forward).name
    match = re.search(r"_from-([A-Za-z0-9]+)_to-" + TARGET + "_", name)
    if match is None:
        return None
    reverse = (
        Path(forward)
        .with_name(name.replace(f"_from-{match.group(1)}_to-{TARGET}_", f"_from-{TARGET}_to-{match.group(1)}_"))
        .with_suffix(".h5")
    )
    return reverse if reverse.is_file() else None


def _affine_txt(path: Path) -> ToMNI:
    import nitransforms as nt

    try:
        matrix = np.asarray(nt.linear.load(str(path), fmt="itk").matrix, dtype=np.float64)
    except Exception as err:
        raise UnusableTransform(f"nitransforms cannot read it as an ITK affine ({type(err).__name__})") from None
    if matrix.shape != (4, 4) or not np.all(np.isfinite(matrix)):
        raise UnusableTransform("not a finite 4x4 affine")
    return ToMNI(_inverse(matrix))


def _inverse(matrix: np.ndarray) -> np.ndarray:
    """The inverse of a file's affine; a singular one (e.g. all-zero parameters) is unusable, not a crash."""
    try:
        inverse = np.linalg.inv(matrix)
    except np.linalg.LinAlgError:
        raise UnusableTransform("its affine is singular") from None
    if not np.all(np.isfinite(inverse)) or abs(np.linalg.det(matrix[:3, :3])) < 1e-9:
        raise UnusableTransform("its affine is singular")
    return inverse


def _split(order: list[Affine | Field], field_first: bool) -> tuple[np.ndarray, Field | None]:
    """The composed LPS affine of a point-ordered chain and its one field, which must act first (forward file)
    or last (reverse file): the only shapes an ``affine + displacement field`` ToMNI can hold."""
    fields = [k for k, item in enumerate(order) if isinstance(item, Field)]
    if len(fields) > 1:
        raise UnusableTransform(f"it holds {len(fields)} displacement fields (one is supported)")
    if fields and fields[0] != (0 if field_first else len(order) - 1):
        where = "before" if field_first else "after"
        raise UnusableTransform(f"its displacement field does not act {where} its affine (not supported)")
    matrix = np.eye(4)
    for item in order:
        if isinstance(item, Affine):
            matrix = item.lps @ matrix
    field = order[fields[0]] if fields else None
    return matrix, field if isinstance(field, Field) else None


def _inverse_field(forward: Path, itk_forward: np.ndarray, warp: Field) -> nib.Nifti1Image:
    """The reverse file's field when the derivative has one (its affine checked against the forward's), else
    the forward field inverted by fixed-point iteration."""
    from pds_mri.preprocess.field_inverse import TOLERANCE_MM, invert

    reverse = reverse_file(forward)
    if reverse is None:
        inverse, residual = invert(warp.image)
        if residual > TOLERANCE_MM:
            raise UnusableTransform(
                f"there is no from-{TARGET} reverse file and its displacement field does not invert (residual "
                f"{residual:.2f} mm > {TOLERANCE_MM} mm)"
            )
        return inverse
    try:
        matrix, field = _split(point_order(reverse), field_first=False)
    except UnusableTransform as err:
        raise UnusableTransform(f"its reverse file {reverse.name}: {err}") from None
    if field is None:
        raise UnusableTransform(f"its reverse file {reverse.name} holds no displacement field")
    product = matrix @ itk_forward
    if not (np.allclose(product[:3, :3], np.eye(3), atol=1e-3) and np.allclose(product[:3, 3], 0, atol=0.05)):
        raise UnusableTransform(f"the affine of its reverse file {reverse.name} is not the inverse of its own")
    return field.image


def load(path: Path) -> ToMNI:
    """The subject → MNI transform of an ITK file: a .txt affine, or an .h5 composite of affines and at most one
    displacement field acting first (fMRIPrep's and QSIPrep's); UnusableTransform says why not."""
    if Path(path).suffix != ".h5":
        return _affine_txt(Path(path))
    itk, field = _split(point_order(Path(path)), field_first=True)  # MNI (LPS) -> subject (LPS)
    matrix = _inverse(LPS @ itk @ LPS)
    if field is None:
        return ToMNI(matrix)
    return ToMNI(matrix, field.image, _inverse_field(Path(path), itk, field))


def find(
    image: Path | None, default_space: str | None = None, cache: dict[Path, ToMNI] | None = None
) -> tuple[ToMNI, Path] | None:
    """The derivative transform that places `image` in MNI, and its file; None when the derivative has none.
    A file that is there but unusable raises UnusableTransform("<file>: <why>"). `cache`: files already read."""
    if image is None:
        return None
    path = transform_file(Path(image), default_space)
    if path is None:
        return None
    cache = {} if cache is None else cache
    if path not in cache:
        try:
            cache[path] = load(path)
        except UnusableTransform as err:
            raise UnusableTransform(f"{path}: {err}") from None
    return cache[path], path
