"""fMRI `mean`: the temporal mean of the BOLD run (the paper's default fMRI map)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from pds_mri.preprocess.maps.base import FMRI_MAPS, BoldMap, steady_state

if TYPE_CHECKING:
    from pds_mri.config import Maps


def mean_map(bold: np.ndarray, dummy_scans: int = 0) -> np.ndarray:
    """Temporal mean after dropping the non-steady-state volumes (the paper's default fMRI map)."""
    return steady_state(bold, dummy_scans).mean(axis=3, dtype=np.float64).astype(np.float32)


@FMRI_MAPS.register("mean", help="temporal mean of the BOLD run")
class BoldMean(BoldMap):
    settings = ("dummy_scans",)  # the volumes it drops change its values

    def compute(self, bold: np.ndarray, tr: float, maps: Maps) -> np.ndarray:
        return mean_map(bold, maps.dummy_scans)
