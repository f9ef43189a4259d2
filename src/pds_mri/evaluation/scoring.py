"""Scoring one synthesis of `pds evaluate`: its metric row, its uncertainty calibration, and how the rows are
written (metrics.tsv cells, metrics.json values, group_differences.tsv cells).

The metrics themselves are in regions.py (PSNR/SSIM/MAE per region), calibration.py (std vs |error|) and
group_difference.py (regional means); this module assembles them into the row layout of docs/evaluation.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import torch

from pds_mri.errors import InputError
from pds_mri.io.nifti import load_nifti
from pds_mri.io.run_layout import SYNTH_TSV

ROW_COLUMNS = ("participant_id", "diagnosis", "direction", "source", "target")
GROUP_COLUMNS = (
    "direction",
    "region",
    "contrast",
    "n_case",
    "n_control",
    "real_difference",
    "synthetic_difference",
    "ratio",
    "ratio_ci_low",
    "ratio_ci_high",
    "real_cohens_d",
    "synthetic_cohens_d",
)


def score_synthesis(
    synthesized: dict[str, str],
    item: dict[str, Any],
    pred: np.ndarray,
    std: np.ndarray | None,
    *,
    who: dict[str, str],
    diagnosis: str,
    source: str,
    target: str,
    networks: list[int] | None,
    extra_regions: dict[str, Any] | None,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The metric row of one synthesis (a row of SYNTH_DIR/synthesized.tsv, `who` first, then the columns in
    docs/evaluation.md's order) and its voxels for pooled calibration (None without a std map)."""
    from pds_mri.evaluation.group_difference import regional_means
    from pds_mri.evaluation.regions import score

    metrics = score(torch.from_numpy(pred), item, None if std is None else torch.from_numpy(std))
    calibration, subject = uncertainty_calibration(pred, item, std)
    row = {
        **who,
        "diagnosis": diagnosis,
        "direction": synthesized["direction"],
        "source": source,
        "target": target,
        **metrics,
        **calibration,
        "synthesis": synthesized["synthesis"],
        "uncertainty": synthesized.get("uncertainty") or "",
        "region_means_real": regional_means(item["target"], item, networks, extra_regions),
        "region_means_synth": regional_means(torch.from_numpy(pred), item, networks, extra_regions),
    }
    return row, subject


def uncertainty_calibration(
    pred: np.ndarray, item: dict[str, Any], std: np.ndarray | None
) -> tuple[dict[str, float], dict[str, Any] | None]:
    """The calibration columns of one synthesis (all n/a without a std map) and its voxels for pooling."""
    from pds_mri.evaluation.calibration import calibration_metrics, empty_metrics, subject_voxels, unit_error_and_std

    if std is None:
        return empty_metrics(), None
    target = item["target"].reshape(pred.shape).numpy()
    mask = item["mask"].reshape(pred.shape).numpy() > 0
    error, sd = unit_error_and_std(pred, target, std)
    return calibration_metrics(error, sd, mask), subject_voxels(error, sd, mask)


def load_on_grid(path: Path, grid: nib.Nifti1Image, what: str) -> np.ndarray:
    """A synthesis (or its std map) listed in synthesized.tsv, checked to lie on `grid` and to be finite."""
    if not path.is_file():
        raise InputError(path, f"file not found (listed in {SYNTH_TSV})")
    try:
        img = load_nifti(str(path))
        data = np.asarray(img.dataobj, dtype=np.float32)
    except Exception as exc:  # nibabel raises many types for corrupt files
        raise InputError(path, f"cannot read NIfTI ({exc.__class__.__name__}: {exc})") from None
    if data.shape != tuple(grid.shape[:3]):
        raise InputError(
            path,
            f"shape {data.shape} does not match the {what} {tuple(grid.shape[:3])}; was it synthesised from "
            "this prepared directory (same grids)?",
        )
    if not np.allclose(img.affine, grid.affine, atol=1e-3):
        raise InputError(path, f"affine differs from the {what}; was it synthesised from this prepared directory?")
    if not np.isfinite(data).all():
        raise InputError(path, "contains NaN or Inf values")
    return data


def json_rows(scored: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """metrics.json "rows": the scored rows with NaN/inf metrics and regional means as null (JSON has neither)."""
    from pds_mri.evaluation.calibration import CALIBRATION_COLUMNS
    from pds_mri.evaluation.regions import METRIC_COLUMNS, finite

    rows: list[dict[str, Any]] = [
        {k: finite(v) if k in METRIC_COLUMNS or k in CALIBRATION_COLUMNS else v for k, v in r.items()} for r in scored
    ]
    for r in rows:
        for key in ("region_means_real", "region_means_synth"):
            r[key] = {k: finite(v) for k, v in r[key].items()}
    return rows


def tsv_value(value: Any) -> Any:
    """A metrics.tsv cell: floats with 6 significant digits, NaN as n/a, infinities spelled out."""
    if isinstance(value, float):
        if np.isnan(value):
            return "n/a"
        if np.isinf(value):
            return "inf" if value > 0 else "-inf"
        return f"{value:.6g}"
    return value


def group_tsv_row(g: dict[str, Any]) -> dict[str, Any]:
    """A group_differences.tsv row of one group-difference record (the CI split into low and high)."""
    ci = g.get("ratio_ci") or [None, None]
    row = {c: g.get(c) for c in GROUP_COLUMNS}
    row["ratio_ci_low"], row["ratio_ci_high"] = ci
    return {k: "n/a" if v is None else (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()}
