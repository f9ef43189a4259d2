"""dMRI `mean`: the mean diffusion-weighted signal (the paper's default dMRI map)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from pds_mri.preprocess.maps.base import DMRI_MAPS, DwiMap

if TYPE_CHECKING:
    from pds_mri.config import Maps


def mean_dwi(data: np.ndarray, bvals: np.ndarray, b0_threshold: float) -> np.ndarray:
    """Mean of the diffusion-weighted volumes (b > b0_threshold); b0s are excluded (the paper's map)."""
    bvals = np.asarray(bvals, dtype=float)
    if data.ndim != 4 or data.shape[3] != bvals.size:
        raise ValueError(f"DWI shape {data.shape} does not match {bvals.size} b-values")
    dw = bvals > b0_threshold
    if not dw.any():
        raise ValueError(f"no volume with b > {b0_threshold}")
    return data[..., dw].mean(axis=3, dtype=np.float64).astype(np.float32)


@DMRI_MAPS.register("mean", help="mean of the diffusion-weighted volumes")
class DwiMean(DwiMap):
    settings = ("b0_threshold",)  # which volumes count as diffusion-weighted changes its values

    def compute(self, dwi: np.ndarray, bvals: np.ndarray, bvecs: np.ndarray, maps: Maps) -> np.ndarray:
        return mean_dwi(dwi, bvals, maps.b0_threshold)
