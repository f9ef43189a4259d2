"""What a map is: what it needs from the inputs (`check`) and how it is computed (`compute`), kept together.

One registry per modality (`FMRI_MAPS`, `DMRI_MAPS`): `--fmri-map` / `--dmri-map`, `maps.*_map` in the config,
input validation (`io/validate.py`), `pds prepare` and a run's check that its input was prepared alike
(`settings`) all look a map up by name. A map's `check` returns its problems as one-line InputErrors naming the
file, and never raises; `compute` runs only on inputs that passed it.

Light on purpose (numpy only; scipy and dipy are imported inside `compute`): the config and the CLI load this.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from pds_mri.errors import InputError
from pds_mri.registry import Registry

if TYPE_CHECKING:
    from pds_mri.config import Maps

MIN_BOLD_VOLUMES = 2  # after the dummy scans: fewer is not a time series


@dataclass(frozen=True)
class BoldRun:
    """What an fMRI map's check sees of a BOLD run: its file, its volume count (dummy scans included) and
    its repetition time in seconds (None: unreadable, reported by the validator)."""

    path: Path
    n_volumes: int
    tr: float | None


@dataclass(frozen=True)
class GradientTable:
    """What a dMRI map's check sees of a DWI: its gradient files and the validated table (unit bvecs, N x 3)."""

    bval: Path
    bvec: Path
    bvals: np.ndarray
    bvecs: np.ndarray


class BoldMap(ABC):
    """An fMRI map: a 3D float32 array from the BOLD run's (x, y, z, t) voxels."""

    #: `Maps` fields besides the map's name that change its values: a run trained on maps made with other values
    #: refuses the input (`workflows/run.py: check_run_fits_input`).
    settings: ClassVar[tuple[str, ...]] = ()

    def check(self, run: BoldRun, maps: Maps) -> list[InputError]:
        """Problems of `run` for this map; every map needs a time series left after the dummy scans."""
        n = run.n_volumes - maps.dummy_scans
        if n < MIN_BOLD_VOLUMES:
            after = f"after dropping {maps.dummy_scans} dummy scan(s)"
            problem = (
                f"BOLD run too short: {run.n_volumes} volumes, {max(n, 0)} left {after}; need >= {MIN_BOLD_VOLUMES}"
            )
            return [InputError(run.path, problem)]
        return []

    @abstractmethod
    def compute(self, bold: np.ndarray, tr: float, maps: Maps) -> np.ndarray:
        """The map of `bold` (x, y, z, t; dummy scans still included) as float32 (x, y, z)."""


class DwiMap(ABC):
    """A dMRI map: a 3D float32 array from the DWI's (x, y, z, n) voxels and its gradient table."""

    settings: ClassVar[tuple[str, ...]] = ()  # as BoldMap.settings

    def check(self, table: GradientTable, maps: Maps) -> list[InputError]:
        """Problems of the gradient table for this map; every map needs a diffusion-weighted volume."""
        if not np.any(np.asarray(table.bvals) > maps.b0_threshold):
            return [InputError(table.bval, f"no diffusion-weighted volume: every b-value is <= {maps.b0_threshold:g}")]
        return []

    @abstractmethod
    def compute(self, dwi: np.ndarray, bvals: np.ndarray, bvecs: np.ndarray, maps: Maps) -> np.ndarray:
        """The map of `dwi` (x, y, z, n) with its b-values (n,) and unit directions (n, 3) as float32 (x, y, z)."""


FMRI_MAPS: Registry[type[BoldMap]] = Registry("fMRI map", default="mean")
DMRI_MAPS: Registry[type[DwiMap]] = Registry("dMRI map", default="mean")
#: The registry of each modality, for code that loops over both.
MAPS: dict[str, Registry[Any]] = {"fmri": FMRI_MAPS, "dmri": DMRI_MAPS}


def steady_state(bold: np.ndarray, dummy_scans: int) -> np.ndarray:
    """The BOLD run without its first `dummy_scans` (non-steady-state) volumes."""
    if bold.ndim != 4:
        raise ValueError(f"BOLD must be 4D (x, y, z, t), got shape {bold.shape}")
    if dummy_scans < 0 or dummy_scans >= bold.shape[3]:
        raise ValueError(f"dummy_scans={dummy_scans} leaves no volume of {bold.shape[3]}")
    return bold[..., dummy_scans:]
