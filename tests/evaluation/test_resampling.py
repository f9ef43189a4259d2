"""Cluster bootstrap: participants are resampled whole, and one row per participant is the row bootstrap."""

from __future__ import annotations

import numpy as np
import pytest

from pds_mri.evaluation.diagnosis import classification_metrics, paired_difference
from pds_mri.evaluation.group_difference import contrast
from pds_mri.evaluation.resampling import Clusters
from pds_mri.evaluation.statistics import bootstrap_ci, paired_comparison
from pds_mri.io.layout import participant_of_key


def _participants(n: int) -> list[str]:
    return [f"sub-{i:02d}" for i in range(n)]


def _two_sessions(ids: list[str]) -> list[str]:
    return [f"{s}_ses-{k}" for s in ids for k in (1, 2)]


def test_one_row_per_cluster_draws_exactly_the_row_bootstrap() -> None:
    clusters = Clusters.of_keys(_participants(7))
    assert clusters.singletons and clusters.n_rows == 7
    (drawn,) = clusters.resample(np.random.default_rng(4), 50, lambda idx: idx)
    np.testing.assert_array_equal(drawn, np.random.default_rng(4).integers(0, 7, size=(50, 7)))


def test_sessions_of_a_participant_are_drawn_together() -> None:
    keys = ["sub-01_ses-1", "sub-02_ses-1", "sub-01_ses-2", "sub-03"]
    clusters = Clusters.of_keys(keys)
    assert [m.tolist() for m in clusters.members] == [[0, 2], [1], [3]] and not clusters.singletons
    for (idx,) in clusters.resample(np.random.default_rng(0), 30, lambda idx: idx):
        drawn = [keys[i] for i in idx]
        assert drawn.count("sub-01_ses-1") == drawn.count("sub-01_ses-2")  # never one session without the other
    assert participant_of_key("sub-01_ses-2") == "sub-01" and participant_of_key("sub-01") == "sub-01"


def test_duplicated_sessions_give_the_participant_level_ci_not_a_narrower_one() -> None:
    values = np.random.default_rng(1).normal(0.5, 1.0, size=12)
    ids = _participants(12)
    twice = np.repeat(values, 2)
    clustered = bootstrap_ci(
        twice, n_resamples=3000, seed=2, clusters=[participant_of_key(k) for k in _two_sessions(ids)]
    )
    np.testing.assert_allclose(clustered, bootstrap_ci(values, n_resamples=3000, seed=2), rtol=1e-12)
    rows = bootstrap_ci(twice, n_resamples=3000, seed=2)  # the old behaviour: sessions counted as subjects
    assert rows is not None and clustered is not None
    assert rows[1] - rows[0] < 0.85 * (clustered[1] - clustered[0])  # ≈ 1/√2 as wide: overconfident
    assert bootstrap_ci([1.0, 2.0], clusters=["a", "a"]) is None  # one participant: no CI


def test_paired_comparison_resamples_participants_when_told_how() -> None:
    rng = np.random.default_rng(3)
    keys = _two_sessions(_participants(10))
    a = {k: float(v) for k, v in zip(keys, rng.normal(30, 1, size=20), strict=True)}
    b = {k: v - 0.5 for k, v in a.items()}
    plain = paired_comparison(a, b, n_resamples=500)
    grouped = paired_comparison(a, b, n_resamples=500, cluster_of=participant_of_key)
    assert grouped["mean_difference"] == plain["mean_difference"] and grouped["n"] == 20
    assert grouped["ci_low"] <= 0.5 <= grouped["ci_high"]


def test_classification_cis_over_participants_equal_the_participant_level_ones() -> None:
    rng = np.random.default_rng(5)
    y = np.tile([0, 1, 2], 6)
    proba = rng.dirichlet([1, 1, 1], size=y.size)
    proba[np.arange(y.size), y] += 0.6
    proba /= proba.sum(axis=1, keepdims=True)
    pred = proba.argmax(axis=1)
    ids = _participants(y.size)
    once = classification_metrics(y, pred, proba, n_resamples=400, seed=1, ids=ids)
    twice = classification_metrics(
        np.repeat(y, 2),
        np.repeat(pred, 2),
        np.repeat(proba, 2, axis=0),
        n_resamples=400,
        seed=1,
        ids=_two_sessions(ids),
    )
    for metric in ("balanced_accuracy", "auc_ovr"):
        assert twice[metric] == once[metric]
        np.testing.assert_allclose(twice[f"{metric}_ci"], once[f"{metric}_ci"])
    result = {"participant_id": _two_sessions(ids), "y_true": np.repeat(y, 2), "y_pred": np.repeat(pred, 2)}
    result["proba"] = np.repeat(proba, 2, axis=0)
    same = paired_difference(result, result, n_resamples=200)
    assert same["balanced_accuracy"] == 0.0 and same["balanced_accuracy_ci"] == [0.0, 0.0]


def test_group_contrast_cis_over_participants_equal_the_participant_level_ones() -> None:
    rng = np.random.default_rng(6)
    ids = _participants(12)
    real = {s: float(v) for s, v in zip(ids, rng.normal(0.5, 0.1, size=12), strict=True)}
    synth = {s: v * 0.8 + 0.05 for s, v in real.items()}
    groups = {s: ("AD" if i % 2 else "NC") for i, s in enumerate(ids)}
    keys = _two_sessions(ids)
    real2 = {k: real[participant_of_key(k)] for k in keys}
    synth2 = {k: synth[participant_of_key(k)] for k in keys}
    groups2 = {k: groups[participant_of_key(k)] for k in keys}
    once = contrast(real, synth, groups, "AD", "NC", seed=0)
    twice = contrast(real2, synth2, groups2, "AD", "NC", seed=0)
    assert once is not None and twice is not None
    for field in ("real_difference_ci", "synthetic_difference_ci", "ratio_ci"):
        np.testing.assert_allclose(twice[field], once[field])


def test_wilcoxon_ranks_participants_not_sessions() -> None:
    rng = np.random.default_rng(8)
    ids = _participants(9)
    diffs = rng.normal(0.4, 1.0, size=9)
    a = {k: 30.0 + diffs[i // 2] for i, k in enumerate(_two_sessions(ids))}
    b = dict.fromkeys(a, 30.0)
    grouped = paired_comparison(a, b, n_resamples=200, cluster_of=participant_of_key)
    once = paired_comparison({s: 30.0 + d for s, d in zip(ids, diffs, strict=True)}, dict.fromkeys(ids, 30.0))
    assert grouped["p_wilcoxon"] == pytest.approx(once["p_wilcoxon"])
    assert paired_comparison(a, b, n_resamples=200)["p_wilcoxon"] < grouped["p_wilcoxon"]  # rows: overconfident
