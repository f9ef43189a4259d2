"""Scoring one synthesis against its real target, in the brain and in the regions where diagnosis lives.

Regions (all on the target's model grid, all inside the subject's brain mask; written into metrics JSON
via REGIONS):
  brain    the brain mask                                       PSNR, SSIM, MAE
  pattern  voxels of the Dosenbach-160 pattern ROIs (label > 0)  PSNR, MAE
  gm/wm/csf  voxels whose most probable tissue is that class,
             with probability > 0.5                              PSNR, MAE
An empty region gives NaN (null in JSON, n/a in TSV) and is left out of the means.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from pds_mri.evaluation.calibration import CALIBRATION_PROTOCOL
from pds_mri.evaluation.metrics import PROTOCOL, mae, psnr, ssim, to_unit
from pds_mri.io.layout import TISSUES

TISSUE_THRESHOLD = 0.5
REGIONS: dict[str, str] = {
    "brain": "the subject's brain mask on the target model grid (PSNR, SSIM, MAE)",
    "pattern": "inside the brain mask, voxels of the Dosenbach-160 pattern ROIs (atlas label > 0) (PSNR, MAE)",
    **{
        t.lower(): f"inside the brain mask, voxels whose most probable tissue class is {t} and whose {t} "
        f"probability is > {TISSUE_THRESHOLD} (PSNR, MAE)"
        for t in TISSUES
    },
}
UNCERTAINTY = (
    "uncertainty_mean: mean over brain-mask voxels of the voxel-wise std over synthesis samples, on the [0, 1] "
    "scale (std / 2); only when the synthesis was run with --samples > 1"
)
#: Metric columns, in order: brain metrics, then PSNR and MAE per region.
METRIC_COLUMNS: tuple[str, ...] = (
    "psnr",
    "ssim",
    "mae",
    *(f"{r}_{m}" for r in ("pattern", *(t.lower() for t in TISSUES)) for m in ("psnr", "mae")),
    "uncertainty_mean",
)
VOXEL_COLUMNS: tuple[str, ...] = tuple(f"n_{r}" for r in REGIONS)


def region_masks(mask: Tensor, tissue: Tensor, pattern: Tensor) -> dict[str, Tensor]:
    """Boolean (X, Y, Z) masks of REGIONS from one item's mask (1|X,Y,Z), tissue (3,X,Y,Z) and pattern labels."""
    brain = mask.reshape(mask.shape[-3:]) > 0
    out = {"brain": brain, "pattern": brain & (pattern.reshape(brain.shape) > 0)}
    best_p, best_k = tissue.float().max(dim=0)
    for k, name in enumerate(TISSUES):
        out[name.lower()] = brain & (best_k == k) & (best_p > TISSUE_THRESHOLD)
    return out


def score(pred: Tensor, item: Mapping[str, Tensor], uncertainty: Tensor | None = None) -> dict[str, float]:
    """All METRIC_COLUMNS and VOXEL_COLUMNS for one synthesis (values in [-1, 1]) vs item['target'].

    `item` is a `load_direction_item` result (source/target/mask/tissue/pattern on the target grid).
    """
    target = item["target"].reshape(item["target"].shape[-3:]).float()
    pred = pred.reshape(target.shape).float()
    regions = region_masks(item["mask"], item["tissue"], item["pattern"])
    brain = regions["brain"].float()
    out: dict[str, float] = {
        "psnr": psnr(pred, target, brain),
        "ssim": ssim(pred, target, brain),
        "mae": mae(pred, target, brain),
    }
    for name, region in regions.items():
        if name == "brain":
            continue
        if region.any():
            out[f"{name}_psnr"] = psnr(pred, target, region)
            out[f"{name}_mae"] = mae(pred, target, region)
        else:
            out[f"{name}_psnr"] = out[f"{name}_mae"] = float("nan")
    if uncertainty is not None and regions["brain"].any():
        std = uncertainty.reshape(target.shape).float()
        out["uncertainty_mean"] = float((std[regions["brain"]] / 2.0).mean())
    else:
        out["uncertainty_mean"] = float("nan")
    out |= {f"n_{name}": int(region.sum()) for name, region in regions.items()}
    return out


def abs_error_unit(pred: Tensor, target: Tensor) -> Tensor:
    """|pred - target| on the [0, 1] protocol scale (for error maps)."""
    return (to_unit(pred.float()) - to_unit(target.float())).abs()


def finite(value: Any) -> float | None:
    """A float for JSON: None for NaN/inf (JSON has neither) and for missing values."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def summarise(rows: Sequence[Mapping[str, Any]], columns: Iterable[str] = METRIC_COLUMNS) -> dict[str, dict]:
    """Per direction and metric: mean, sample std (n - 1; null if n < 2) and n over finite subject values."""
    out: dict[str, dict] = {}
    for direction in sorted({str(r["direction"]) for r in rows}):
        mine = [r for r in rows if r["direction"] == direction]
        stats: dict[str, Any] = {"subjects": len(mine)}
        for column in columns:
            values = [float(r[column]) for r in mine if finite(r.get(column)) is not None]
            stats[column] = {
                "mean": statistics.fmean(values) if values else None,
                "std": statistics.stdev(values) if len(values) > 1 else None,
                "n": len(values),
            }
        out[direction] = stats
    return out


def protocol() -> dict[str, Any]:
    """PROTOCOL verbatim, plus the region definitions and how undefined values are written."""
    return {
        **PROTOCOL,
        "regions": dict(REGIONS),
        "uncertainty": UNCERTAINTY,
        "calibration": dict(CALIBRATION_PROTOCOL),
        "undefined": "NaN or infinite values (empty region; PSNR of an exact synthesis) are null in JSON, "
        "n/a or inf in TSV, and are left out of means",
        "summary": "per direction: mean and sample standard deviation (n - 1) over subjects; n = subjects with a value",
    }


def as_tensor(array: Any) -> Tensor:
    return torch.as_tensor(array, dtype=torch.float32)
