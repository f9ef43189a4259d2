"""fMRIPrep/QSIPrep transforms to MNI152, applied instead of registering again (read with nitransforms).

A derivative image in a non-MNI space (fMRIPrep ``space-T1w`` BOLD, QSIPrep ``space-ACPC`` / ``space-T1w`` DWI)
lies in the frame of the subject's anatomical reference; the same derivative holds that frame's transform,
``anat/sub-X[_ses-Y]_from-{T1w|ACPC}_to-MNI152NLin2009cAsym_mode-image_xfm.{h5,txt}``. Its ITK file maps MNI
points to subject points (what resamples a subject image into MNI); nitransforms reads it into RAS, and its
inverse is the subject → MNI matrix the rest of `pds prepare` uses.

Only affine files are used here (an ITK .txt, or an .h5 holding one affine): a composite .h5 with a
displacement field is left to ANTs (`find` returns None), so nothing is applied half.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from pds_mri.preprocess.transform import ToMNI

FRAMES = ("T1w", "ACPC")
TARGET = "MNI152NLin2009cAsym"
_SPACE = re.compile(r"_space-([A-Za-z0-9]+)_")


def space_of(image: Path) -> str | None:
    match = _SPACE.search(Path(image).name)
    return match.group(1) if match else None


def transform_file(image: Path, default_space: str | None = None) -> Path | None:
    """The derivative's transform for an image in a T1w/ACPC space (`default_space` for a name without one,
    as fMRIPrep's own ``desc-preproc_T1w``): anat/ of its subject (or session) folder."""
    space = space_of(image) or default_space
    if space not in FRAMES:
        return None
    name = Path(image).name
    prefix = name.split("_space-")[0] if "_space-" in name else name.split(".")[0]
    ents = dict(p.split("-", 1) for p in prefix.split("_") if "-" in p)
    stem = "_".join(f"{k}-{ents[k]}" for k in ("sub", "ses") if k in ents)
    for folder in (Path(image).parent.parent / "anat", Path(image).parent.parent.parent / "anat"):
        for ext in (".h5", ".txt"):
            candidate = folder / f"{stem}_from-{space}_to-{TARGET}_mode-image_xfm{ext}"
            if candidate.is_file():
                return candidate
    return None


def load(path: Path) -> ToMNI | None:
    """The subject → MNI transform of an affine ITK file (None for a nonlinear one, or one nitransforms cannot
    read: then `pds prepare` registers with ANTs)."""
    import nitransforms as nt

    try:
        affine = nt.linear.load(str(path), fmt="itk")
        matrix = np.asarray(affine.matrix, dtype=np.float64)
    except Exception:  # a composite transform with a warp, or an unreadable file
        return None
    if matrix.shape != (4, 4) or not np.all(np.isfinite(matrix)):
        return None
    return ToMNI(np.linalg.inv(matrix))


def find(image: Path | None, default_space: str | None = None) -> tuple[ToMNI, Path] | None:
    """The derivative transform that places `image` in MNI, and its file; None when there is none to use."""
    if image is None:
        return None
    path = transform_file(Path(image), default_space)
    if path is None:
        return None
    transform = load(path)
    return None if transform is None else (transform, path)
