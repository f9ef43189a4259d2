"""Paired comparisons of two methods on the same subjects (docs/evaluation.md): differences, bootstrap CI, Wilcoxon.

Conventions: a difference is ``a − b`` for each key (subject × direction) present in both, so with ``a`` = PDS
a positive PSNR/SSIM difference and a negative MAE difference favour PDS. The CI is the percentile bootstrap
of the mean difference (resampling keys with replacement, ``numpy.random.default_rng(seed)``); the
p-value is the two-sided Wilcoxon signed-rank test of scipy (``zero_method='wilcox'``, exact for small n
without ties, normal approximation otherwise — scipy's ``method='auto'``). Given ``cluster_of`` (keys are
sessions), the bootstrap draws whole participants (evaluation/resampling.py) and the Wilcoxon test ranks each
participant's mean difference.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np

from pds_mri.evaluation.resampling import Clusters

N_RESAMPLES = 10_000
CONFIDENCE = 0.95

_K = TypeVar("_K", bound=Hashable)  # a paired key: subject, or (subject, direction)


def _finite(values: Sequence[float] | np.ndarray) -> np.ndarray:
    arr = np.asarray(values, dtype=float).reshape(-1)
    return arr[np.isfinite(arr)]


def mean_std(values: Sequence[float]) -> dict[str, Any]:
    """Mean and sample std (ddof 1; None when n < 2) of the finite values; mean None when there are none."""
    arr = _finite(values)
    n = int(arr.size)
    return {
        "mean": float(arr.mean()) if n else None,
        "std": float(arr.std(ddof=1)) if n > 1 else None,
        "n": n,
    }


def paired_differences(a: Mapping[_K, float], b: Mapping[_K, float]) -> tuple[list[_K], np.ndarray]:
    """Keys present in both with finite values (sorted by str) and ``a[k] − b[k]`` for each."""
    keys = sorted((k for k in a.keys() & b.keys() if math.isfinite(a[k]) and math.isfinite(b[k])), key=str)
    return keys, np.asarray([a[k] - b[k] for k in keys], dtype=float)


def bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    n_resamples: int = N_RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = 0,
    clusters: Sequence[Hashable] | None = None,
) -> tuple[float, float] | None:
    """Percentile bootstrap CI of the mean; None for fewer than 2 values (or 2 clusters).

    `clusters`: one label per value (a participant); a resample then draws whole clusters."""
    raw = np.asarray(values, dtype=float).reshape(-1)
    finite = np.isfinite(raw)
    arr = raw[finite]
    labels = range(arr.size) if clusters is None else [c for c, ok in zip(clusters, finite, strict=True) if ok]
    groups = Clusters.of(labels)
    if arr.size < 2 or len(groups.members) < 2:
        return None
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    rng = np.random.default_rng(seed)
    parts: list[np.ndarray] = []
    chunk = max(1, 2_000_000 // arr.size)  # bounded memory for large n
    for start in range(0, n_resamples, chunk):
        stop = min(n_resamples, start + chunk)
        parts += groups.resample(rng, stop - start, lambda idx: arr[idx].mean(axis=1))
    means = np.concatenate(parts)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return float(low), float(high)


def wilcoxon_p(differences: Sequence[float] | np.ndarray) -> float | None:
    """Two-sided Wilcoxon signed-rank p-value of paired differences; None when undefined (n < 1 non-zero)."""
    from scipy.stats import wilcoxon

    arr = _finite(differences)
    if not np.any(arr != 0):
        return None if arr.size == 0 else 1.0
    return float(wilcoxon(arr, zero_method="wilcox", alternative="two-sided").pvalue)


def paired_comparison(
    a: Mapping[_K, float],
    b: Mapping[_K, float],
    n_resamples: int = N_RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = 0,
    cluster_of: Callable[[_K], Hashable] | None = None,
) -> dict[str, Any]:
    """Mean paired difference a − b, its percentile bootstrap CI, Wilcoxon p-value and n.

    `cluster_of`: a key's participant (keys are sessions): the CI then resamples participants, and the
    Wilcoxon test ranks each participant's mean difference — sessions of one subject are not independent."""
    keys, diffs = paired_differences(a, b)
    clusters = None if cluster_of is None else [cluster_of(k) for k in keys]
    ci = bootstrap_ci(diffs, n_resamples, confidence, seed, clusters)
    per_participant = (
        diffs if clusters is None else np.asarray([diffs[m].mean() for m in Clusters.of(clusters).members])
    )
    return {
        "n": len(keys),
        "mean_difference": float(diffs.mean()) if len(keys) else None,
        "ci_low": None if ci is None else ci[0],
        "ci_high": None if ci is None else ci[1],
        "confidence": confidence,
        "p_wilcoxon": wilcoxon_p(per_participant),
    }
