"""Paired statistics: bootstrap CI coverage on synthetic data and Wilcoxon against scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import wilcoxon

from pds_mri.evaluation.statistics import (
    bootstrap_ci,
    mean_std,
    paired_comparison,
    paired_differences,
    wilcoxon_p,
)


def test_bootstrap_ci_contains_the_true_mean_difference_and_is_seeded() -> None:
    rng = np.random.default_rng(1)
    covered = 0
    for _ in range(40):
        diffs = 0.8 + rng.normal(0.0, 1.0, size=30)
        low, high = bootstrap_ci(diffs, n_resamples=2000, seed=3)
        assert low < diffs.mean() < high
        covered += low <= 0.8 <= high
    assert covered >= 34  # nominal 95 %: 38 of 40 expected; a loose bound keeps the test deterministic-safe
    diffs = rng.normal(size=12)
    assert bootstrap_ci(diffs, seed=5) == bootstrap_ci(diffs, seed=5)
    assert bootstrap_ci([1.0]) is None


def test_wilcoxon_matches_scipy_and_handles_degenerate_input() -> None:
    diffs = np.random.default_rng(2).normal(0.3, 1.0, size=15)
    assert wilcoxon_p(diffs) == pytest.approx(wilcoxon(diffs).pvalue)
    assert wilcoxon_p([0.0, 0.0]) == 1.0 and wilcoxon_p([]) is None


def test_paired_comparison_uses_shared_keys_only_with_a_minus_b() -> None:
    a = {("s1", "f"): 30.0, ("s2", "f"): 31.0, ("s3", "f"): 29.0, ("s4", "f"): float("nan")}
    b = {("s1", "f"): 28.0, ("s2", "f"): 30.0, ("s3", "f"): 28.5, ("s5", "f"): 1.0}
    keys, diffs = paired_differences(a, b)
    assert keys == [("s1", "f"), ("s2", "f"), ("s3", "f")] and diffs.tolist() == [2.0, 1.0, 0.5]
    out = paired_comparison(a, b, n_resamples=500)
    assert out["n"] == 3 and out["mean_difference"] == pytest.approx(3.5 / 3)
    assert 0.5 <= out["ci_low"] <= out["ci_high"] <= 2.0
    assert out["p_wilcoxon"] == pytest.approx(wilcoxon([2.0, 1.0, 0.5]).pvalue)
    assert mean_std([1.0, 3.0]) == {"mean": 2.0, "std": pytest.approx(2**0.5), "n": 2}
    assert mean_std([5.0])["std"] is None
