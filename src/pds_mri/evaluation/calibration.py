"""Does the predicted std mean something? Its rank correlation with |error| and the coverage of ±kσ intervals.

A std map is useful if (a) it ranks voxels by how wrong the synthesis is (Spearman ρ of std with |error|)
and (b) its size is right (share of voxels with |error| <= k·std near the Gaussian 68.3 % / 95.4 %).
Both are measured inside the brain mask, on the [0, 1] protocol scale of `metrics.py` (error of the clamped
maps; std / 2), with the mask-edge voxels apart from the interior: at the edge, partial-volume mismatch makes
both the error and the sample spread large, which can fake a correlation the interior does not have.

  edge      brain voxels with a non-brain voxel (or the volume border) among their 26 neighbours
            (mask minus its binary erosion by a 3×3×3 cube)
  interior  the rest of the brain mask

`fit_scale` gives the post-hoc factor s (std_calibrated = s·std) that puts the ±2σ coverage of the voxels
it is fitted on at its nominal 95.45 %: s = q_0.9545(|error| / std) / 2, a quantile, so it holds without
assuming Gaussian errors.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import ndimage, stats

from pds_mri.errors import PdsError

#: Nominal coverage of ±kσ for Gaussian errors: erf(k / √2).
NOMINAL: dict[int, float] = {k: math.erf(k / math.sqrt(2.0)) for k in (1, 2)}
CALIBRATION_REGIONS = ("brain", "interior", "edge")
#: Columns appended to metrics.tsv (after the existing ones, so the old columns keep their order).
CALIBRATION_COLUMNS: tuple[str, ...] = (
    "uncertainty_spearman",
    "uncertainty_spearman_interior",
    "uncertainty_spearman_edge",
    "coverage_1sd",
    "coverage_2sd",
    "coverage_1sd_interior",
    "coverage_2sd_interior",
    "coverage_1sd_edge",
    "coverage_2sd_edge",
    "n_interior",
    "n_edge",
)
#: The scores among them (averaged over subjects in the summary), i.e. all but the voxel counts.
CALIBRATION_SCORES: tuple[str, ...] = tuple(c for c in CALIBRATION_COLUMNS if not c.startswith("n_"))
BINS = 10
POOL_CAP = 200_000
CALIBRATION_PROTOCOL: dict[str, str] = {
    "scale": "|error| = |(pred + 1)/2 - (real + 1)/2| of the clamped maps and std = (voxel-wise std over the "
    "--samples N posterior samples) / 2, both on the [0, 1] scale; the std map as `pds synthesize` wrote it "
    "(multiplied by the run's uncertainty_scale.json when it has one: see UncertaintyScale in the synthesis sidecar)",
    "edge": "brain-mask voxels with a non-mask voxel or the volume border among their 26 neighbours (mask minus "
    "its binary erosion by a 3x3x3 cube); interior: the other brain-mask voxels",
    "uncertainty_spearman": "Spearman rank correlation of std with |error| over the brain (_interior, _edge: "
    "over those voxels); n/a with fewer than 3 voxels or a constant std or error",
    "coverage_ksd": "share of the voxels with |error| <= k * std (nominal for Gaussian errors: "
    f"{NOMINAL[1]:.4f} for k = 1, {NOMINAL[2]:.4f} for k = 2)",
    "without_uncertainty": "every calibration column is n/a for a synthesis without an uncertainty map (--samples 1)",
    "pooled": "metrics.json calibration.directions.<direction>: the same numbers over the voxels of all its "
    f"subjects together (at most {POOL_CAP} voxels per subject and region, evenly strided)",
    "curve": f"voxels sorted by std into {BINS} equal-count bins; per bin the RMS std and the RMS |error| "
    "(a calibrated std puts every bin on the identity line)",
}


def edge_interior(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(edge, interior) boolean masks of a 3D brain mask; outside the volume counts as outside the mask."""
    brain = np.asarray(mask, dtype=bool)
    eroded = ndimage.binary_erosion(brain, structure=np.ones((3, 3, 3), dtype=bool), border_value=0)
    return brain & ~eroded, eroded


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman ρ (ties averaged); NaN when undefined (fewer than 3 values, or either input constant)."""
    x, y = np.asarray(x, dtype=np.float64).ravel(), np.asarray(y, dtype=np.float64).ravel()
    if x.size < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(stats.spearmanr(x, y).statistic)


def coverage(abs_error: np.ndarray, std: np.ndarray, k: float) -> float:
    """Share of voxels with |error| <= k·std; NaN for no voxels."""
    abs_error, std = np.asarray(abs_error).ravel(), np.asarray(std).ravel()
    return float(np.mean(abs_error <= k * std)) if abs_error.size else float("nan")


def unit_error_and_std(pred: np.ndarray, target: np.ndarray, std: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """|error| and std on the [0, 1] protocol scale, from [-1, 1] maps and a [-1, 1]-scale std map."""
    return np.abs(_to_unit(pred) - _to_unit(target)), np.asarray(std, np.float64) / 2.0


def _to_unit(x: np.ndarray) -> np.ndarray:
    """metrics.to_unit in numpy: the clamped [-1, 1] map on [0, 1]."""
    return (np.clip(np.asarray(x, np.float64), -1.0, 1.0) + 1.0) / 2.0


def region_voxels(mask: np.ndarray) -> dict[str, np.ndarray]:
    """Boolean masks of CALIBRATION_REGIONS."""
    edge, interior = edge_interior(mask)
    return {"brain": np.asarray(mask, dtype=bool), "interior": interior, "edge": edge}


def calibration_metrics(abs_error: np.ndarray, std: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """CALIBRATION_COLUMNS of one synthesis ([0, 1]-scale |error| and std, 3D brain mask)."""
    out: dict[str, float] = {}
    for name, region in region_voxels(mask).items():
        suffix = "" if name == "brain" else f"_{name}"
        e, s = abs_error[region], std[region]
        out[f"uncertainty_spearman{suffix}"] = spearman(s, e)
        for k in NOMINAL:
            out[f"coverage_{k}sd{suffix}"] = coverage(e, s, k)
        if name != "brain":
            out[f"n_{name}"] = int(region.sum())
    return {c: out[c] for c in CALIBRATION_COLUMNS}


def empty_metrics() -> dict[str, float]:
    """CALIBRATION_COLUMNS of a row without an uncertainty map: all NaN (n/a in TSV, null in JSON)."""
    return {c: float("nan") for c in CALIBRATION_COLUMNS}


def strided(values: np.ndarray, cap: int = POOL_CAP) -> np.ndarray:
    """At most `cap` evenly spaced entries (deterministic), so pooling many large grids stays bounded."""
    if values.size <= cap:
        return values
    return values[np.linspace(0, values.size - 1, cap).round().astype(np.int64)]


def binned_curve(abs_error: np.ndarray, std: np.ndarray, bins: int = BINS) -> list[dict[str, float]]:
    """Voxels sorted by std in `bins` equal-count bins: RMS std, RMS |error| and voxel count per bin."""
    e, s = np.asarray(abs_error, np.float64).ravel(), np.asarray(std, np.float64).ravel()
    if not e.size:
        return []
    order = np.argsort(s, kind="stable")
    out = []
    for part in np.array_split(order, min(bins, e.size)):
        out.append(
            {
                "rms_std": float(np.sqrt(np.mean(s[part] ** 2))),
                "rms_error": float(np.sqrt(np.mean(e[part] ** 2))),
                "n": int(part.size),
            }
        )
    return out


def pooled(samples: Sequence[Mapping[str, tuple[np.ndarray, np.ndarray]]]) -> dict[str, Any]:
    """Per region: Spearman, coverage and the binned curve over the (|error|, std) voxels of all subjects.

    `samples` has one {region: (|error| voxels, std voxels)} per subject.
    """
    out: dict[str, Any] = {"subjects": len(samples)}
    for region in CALIBRATION_REGIONS:
        e = np.concatenate([s[region][0] for s in samples]) if samples else np.zeros(0)
        sd = np.concatenate([s[region][1] for s in samples]) if samples else np.zeros(0)
        out[region] = {
            "voxels": int(e.size),
            "spearman": _finite(spearman(sd, e)),
            **{f"coverage_{k}sd": _finite(coverage(e, sd, k)) for k in NOMINAL},
            "curve": binned_curve(e, sd),
        }
    return out


def subject_voxels(abs_error: np.ndarray, std: np.ndarray, mask: np.ndarray) -> dict[str, tuple[np.ndarray, ...]]:
    """One subject's {region: (|error|, std)} voxels for `pooled`, float32 and capped at POOL_CAP."""
    return {
        name: (strided(abs_error[r].astype(np.float32)), strided(std[r].astype(np.float32)))
        for name, r in region_voxels(mask).items()
    }


def fit_scale(abs_error: np.ndarray, std: np.ndarray, k: float = 2.0) -> float:
    """s with share(|error| <= k·s·std) = erf(k/√2) on these voxels: s = quantile(|error| / std) / k.

    A voxel with std 0 and a non-zero error can never be covered (ratio +inf); too many of them and no
    finite s exists, which is an error rather than a silent guess.
    """
    e, s = np.asarray(abs_error, np.float64).ravel(), np.asarray(std, np.float64).ravel()
    if not e.size:
        raise PdsError("cannot fit an uncertainty scale on no voxels")
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(s > 0, e / np.where(s > 0, s, 1.0), np.where(e > 0, np.inf, 0.0))
    target = math.erf(k / math.sqrt(2.0))
    q = float(np.quantile(ratio, target, method="higher"))
    if q == 0:
        raise PdsError(f"cannot fit an uncertainty scale: the error is 0 in >= {100 * target:.1f} % of the voxels")
    if not math.isfinite(q):
        raise PdsError(
            f"cannot fit an uncertainty scale: the predicted std is 0 where the error is not in more than "
            f"{100 * (1 - target):.1f} % of the voxels (was it synthesised with --samples > 1?)"
        )
    return q / k


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def calibration_payload(voxels: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """metrics.json "calibration": the columns, their protocol, and per direction the pooled numbers."""
    return {
        "columns": list(CALIBRATION_COLUMNS),
        "protocol": CALIBRATION_PROTOCOL,
        "directions": {d: pooled(v) for d, v in sorted(voxels.items())},
    }
