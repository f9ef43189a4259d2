"""The fMRI map of a BOLD image, by name (the maps themselves: `preprocess/maps/`, docs/maps.md)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import nibabel as nib
import numpy as np

from pds_mri.preprocess._image import float_image
from pds_mri.preprocess.maps import FMRI_MAPS, BoldRun
from pds_mri.preprocess.maps.alff import alff_maps
from pds_mri.preprocess.maps.bold_mean import mean_map

if TYPE_CHECKING:
    from pds_mri.config import Maps

__all__ = ["alff_maps", "fmri_map", "mean_map"]


def fmri_map(img: nib.Nifti1Image, kind: str, tr: float, maps: Maps, data: np.ndarray | None = None) -> nib.Nifti1Image:
    """The fMRI map `kind` as a 3D float32 image in the BOLD run's own affine.

    The map's input check runs first, so a caller that skipped validation gets the same one-line InputError.
    `data` is the run's voxel array when the caller already read it (validation forces a full read), so a
    large run is not decoded twice.
    """
    spec = FMRI_MAPS.get(kind)()
    bold = img.get_fdata(dtype=np.float32) if data is None else data
    run = BoldRun(Path(img.get_filename() or "<BOLD image>"), int(bold.shape[3]) if bold.ndim == 4 else 0, tr)
    problems = spec.check(run, maps)
    if problems:
        raise problems[0]
    return float_image(spec.compute(bold, tr, maps), img.affine, like=img)
