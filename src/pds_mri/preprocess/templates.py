"""Offline priors bundled with nilearn (MNI152 2009 templates, Dosenbach-160), loaded once per process.

Loading a template costs ~1 s, and callers need them for every subject, hence the caches. The returned
images are shared: treat them as read-only.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import nibabel as nib
import numpy as np
from nilearn import datasets


@lru_cache(maxsize=1)
def mni_brain_mask() -> nib.Nifti1Image:
    return datasets.load_mni152_brain_mask(resolution=2)


@lru_cache(maxsize=1)
def mni_gm() -> nib.Nifti1Image:
    return datasets.load_mni152_gm_template(resolution=2)


@lru_cache(maxsize=1)
def mni_wm() -> nib.Nifti1Image:
    return datasets.load_mni152_wm_template(resolution=2)


@dataclass(frozen=True)
class PatternRois:
    """Dosenbach-160 ROI centres (MNI mm) in nilearn's order, with network and region names."""

    centres: np.ndarray  # (160, 3)
    networks: tuple[str, ...]
    names: tuple[str, ...]


@lru_cache(maxsize=1)
def dosenbach() -> PatternRois:
    bunch = datasets.fetch_coords_dosenbach_2010()
    rois = bunch["rois"]
    centres = rois[["x", "y", "z"]].to_numpy(dtype=float)
    centres.setflags(write=False)
    return PatternRois(
        centres=centres,
        networks=tuple(str(n) for n in bunch["networks"]),
        names=tuple(str(n) for n in bunch["labels"]),
    )
