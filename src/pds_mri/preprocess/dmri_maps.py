"""The dMRI map of a DWI, by name (the maps themselves: `preprocess/maps/`, docs/maps.md)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import nibabel as nib
import numpy as np

from pds_mri.preprocess._image import float_image
from pds_mri.preprocess.maps import DMRI_MAPS, GradientTable
from pds_mri.preprocess.maps.dti import tensor_maps
from pds_mri.preprocess.maps.dwi_mean import mean_dwi

if TYPE_CHECKING:
    from pds_mri.config import Maps

__all__ = ["dmri_map", "mean_dwi", "tensor_maps"]


def dmri_map(
    img: nib.Nifti1Image,
    bvals: np.ndarray,
    bvecs: np.ndarray,
    kind: str,
    maps: Maps,
    data: np.ndarray | None = None,
) -> nib.Nifti1Image:
    """The dMRI map `kind` as a 3D float32 image in the DWI's own affine.

    The map's input check runs first (its errors name the DWI: the gradient files are not known here).
    `data` is the DWI's voxel array when the caller already read it (no second decode).
    """
    spec = DMRI_MAPS.get(kind)()
    where = Path(img.get_filename() or "<DWI image>")
    problems = spec.check(GradientTable(where, where, np.asarray(bvals, dtype=float), bvecs), maps)
    if problems:
        raise problems[0]
    data = img.get_fdata(dtype=np.float32) if data is None else data
    return float_image(spec.compute(data, np.asarray(bvals, dtype=float), bvecs, maps), img.affine, like=img)
