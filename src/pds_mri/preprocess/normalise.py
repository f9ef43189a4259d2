"""Per-subject robust intensity normalisation to [-1, 1] inside the brain mask, and its inverse."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Normalisation:
    """Linear map low -> -1, high -> +1; stored next to each grid map so outputs return to input units."""

    low: float
    high: float
    percentiles: tuple[float, float]

    def __post_init__(self) -> None:
        if not (np.isfinite(self.low) and np.isfinite(self.high)) or self.high <= self.low:
            raise ValueError(f"normalisation needs finite low < high, got {self.low}, {self.high}")

    def apply(self, x: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        """Scale to [-1, 1] (clipped); voxels outside `mask` are set to -1, the model's background."""
        y = 2.0 * (np.asarray(x, dtype=np.float64) - self.low) / (self.high - self.low) - 1.0
        y = np.clip(y, -1.0, 1.0)
        if mask is not None:
            y = np.where(mask, y, -1.0)
        return y.astype(np.float32)

    def invert(self, y: np.ndarray) -> np.ndarray:
        """Back to the input's units (exact for values that were inside [low, high])."""
        x = (np.asarray(y, dtype=np.float64) + 1.0) / 2.0 * (self.high - self.low) + self.low
        return x.astype(np.float32)

    def to_json(self) -> dict[str, Any]:
        return {
            "method": "percentile",
            "low": float(self.low),
            "high": float(self.high),
            "percentiles": [float(p) for p in self.percentiles],
            "range": [-1.0, 1.0],
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Normalisation:
        try:
            lo_p, hi_p = obj["percentiles"]
            return cls(low=float(obj["low"]), high=float(obj["high"]), percentiles=(float(lo_p), float(hi_p)))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a normalisation record ({exc})") from None


def read_sidecar_normalisation(path: Path) -> tuple[Normalisation, str]:
    """The Normalisation and map kind recorded in a prepared map's JSON sidecar (one-line error if damaged)."""
    from pds_mri.errors import InputError
    from pds_mri.io.json_files import field, read_json

    hint = "run `pds prepare` again"
    sidecar = read_json(path, "normalisation sidecar", hint)
    record = field(sidecar, "Normalisation", dict, path)
    try:
        return Normalisation.from_json(record), str(sidecar.get("Map", ""))
    except ValueError as exc:
        raise InputError(path, f"{exc}; {hint}") from None


def fit_normalisation(x: np.ndarray, mask: np.ndarray, percentiles: tuple[float, float] = (0.5, 99.5)) -> Normalisation:
    """Robust percentiles inside the mask, so a few hot voxels do not squash the brain's contrast.

    A constant map (high <= low) gets high = low + 1 rather than a division by zero.
    """
    values = np.asarray(x, dtype=np.float64)[np.asarray(mask, dtype=bool)]
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise ValueError("cannot normalise: the mask holds no finite voxel")
    low, high = (float(v) for v in np.percentile(values, percentiles))
    if high <= low:
        high = low + 1.0
    return Normalisation(low=low, high=high, percentiles=(float(percentiles[0]), float(percentiles[1])))
