"""Diagnosis CV engine, classifiers, metrics and protocols on small synthetic feature arrays."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix, f1_score, roc_auc_score

from pds_mri.errors import PdsError
from pds_mri.evaluation import diagnosis as dx
from pds_mri.evaluation.classifiers import build_classifier, check_fitted_on, fitted_sample_counts
from pds_mri.evaluation.diagnosis import FeatureTable, Protocol, classification_metrics, cross_validate
from pds_mri.evaluation.protocols import choose_missing, main_protocols, missing_protocols, unavailable

REAL = {"fmri": "real", "dmri": "real"}


def make_table(n_per_class: int = 10, widths=(30, 40), signal: float = 1.5, seed: int = 0) -> FeatureTable:
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(3), n_per_class)
    ids = [f"sub-{i:03d}" for i in range(len(y))]
    table = FeatureTable(ids, y)
    for m, w in zip(("fmri", "dmri"), widths, strict=True):
        centres = rng.normal(size=(3, w)) * signal
        real = (centres[y] + rng.normal(size=(len(y), w))).astype(np.float32)
        table.blocks[m] = {"real": real, "pds": (real + 0.3 * rng.normal(size=real.shape)).astype(np.float32)}
    return table


def kfold(table: FeatureTable, k: int = 3) -> list[tuple[list[str], list[str]]]:
    from sklearn.model_selection import StratifiedKFold

    skf = StratifiedKFold(n_splits=k, shuffle=True, random_state=0)
    ids = np.asarray(table.ids)
    return [(list(ids[tr]), list(ids[te])) for tr, te in skf.split(ids, table.y)]


def test_metrics_match_sklearn_and_cis_bracket_the_estimate() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 60)
    proba = rng.dirichlet(np.ones(3), 60)
    proba[np.arange(60), y] += 0.4
    proba /= proba.sum(axis=1, keepdims=True)
    pred = proba.argmax(axis=1)
    m = classification_metrics(y, pred, proba, n_resamples=500, seed=0)
    assert m["accuracy"] == pytest.approx(accuracy_score(y, pred))
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, pred))
    assert m["macro_f1"] == pytest.approx(f1_score(y, pred, average="macro"))
    assert m["auc_ovr"] == pytest.approx(roc_auc_score(y, proba, multi_class="ovr", average="macro"))
    assert m["confusion"] == confusion_matrix(y, pred, labels=[0, 1, 2]).tolist()
    for name in dx.METRIC_NAMES:
        low, high = m[f"{name}_ci"]
        assert low <= m[name] <= high
    again = classification_metrics(y, pred, proba, n_resamples=500, seed=0)
    assert again == m  # seeded


def test_metrics_with_an_absent_class_and_empty_input() -> None:
    y = np.array([0, 0, 1, 1])
    proba = np.array([[0.9, 0.1, 0], [0.4, 0.6, 0], [0.2, 0.8, 0], [0.3, 0.3, 0.4]])
    pred = proba.argmax(axis=1)
    m = classification_metrics(y, pred, proba, n_resamples=100)
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, pred))
    assert m["macro_f1"] == pytest.approx(f1_score(y, pred, average="macro"))
    assert m["auc_ovr"] is not None  # over the classes with positives and negatives
    assert classification_metrics([], [], np.zeros((0, 3)))["accuracy"] is None


def test_the_sessions_of_one_participant_get_no_confidence_interval() -> None:
    """Four sessions of one participant: every participant resample is those same rows, so a CI would have no
    width; with a second participant there is one again."""
    y = np.array([0, 1, 1, 2])
    proba = np.array([[0.7, 0.2, 0.1], [0.2, 0.6, 0.2], [0.5, 0.3, 0.2], [0.1, 0.2, 0.7]])
    pred = proba.argmax(axis=1)
    ids = [f"sub-01_ses-{i}" for i in range(4)]
    one = classification_metrics(y, pred, proba, n_resamples=200, ids=ids)
    assert one["accuracy"] == pytest.approx(0.75) and one["accuracy_ci"] is None
    two = classification_metrics(y, pred, proba, n_resamples=200, ids=[*ids[:2], "sub-02_ses-1", "sub-02_ses-2"])
    assert two["accuracy_ci"] is not None
    result = {"participant_id": ids, "y_true": y, "y_pred": pred, "proba": proba}
    other = {**result, "y_pred": np.array([0, 0, 1, 2]), "proba": proba[[0, 0, 1, 3]]}
    paired = dx.paired_difference(result, other, n_resamples=200)
    assert paired["balanced_accuracy"] is not None and paired["balanced_accuracy_ci"] is None


@pytest.mark.parametrize("classifier", ["pca-svm", "logreg"])
def test_real_to_real_learns_separable_classes(classifier: str) -> None:
    table = make_table()
    cv = cross_validate(table, kfold(table), Protocol("rr", "", REAL, REAL), classifier)
    assert sorted(cv["participant_id"]) == sorted(table.ids)  # everyone tested exactly once
    assert np.allclose(cv["proba"].sum(axis=1), 1.0)
    m = classification_metrics(cv["y_true"], cv["y_pred"], cv["proba"], n_resamples=200)
    assert m["balanced_accuracy"] > 0.8 and m["auc_ovr"] > 0.9
    for rec in cv["folds"]:
        assert set(rec["fitted_on"].values()) == {rec["n_train"]}


def test_pca_components_capped_and_one_basis_per_modality() -> None:
    table = make_table(n_per_class=5)
    X = dx.view_matrix(table, table.ids, REAL)
    pipe = build_classifier("pca-svm", [("fmri", 30), ("dmri", 40)], table.y, seed=0).fit(X, table.y)
    pcas = {name: sub.named_steps["pca"] for name, sub, _ in pipe.named_steps["features"].transformers_}
    assert set(pcas) == {"fmri", "dmri"} and all(p.n_components_ == 14 for p in pcas.values())
    assert fitted_sample_counts(pipe) == {
        "features/fmri/scale": 15,
        "features/fmri/pca": 15,
        "features/dmri/scale": 15,
        "features/dmri/pca": 15,
    }
    with pytest.raises(PdsError, match="leakage guard"):
        check_fitted_on(pipe, 12)


def test_no_leakage_scaler_and_pca_ignore_test_features(monkeypatch: pytest.MonkeyPatch) -> None:
    """Changing every test subject's features changes no fitted scaler/PCA; sets are disjoint."""
    fitted: list = []
    real_build = dx.build_classifier

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        pipe = real_build(*args, **kwargs)
        fitted.append(pipe)
        return pipe

    monkeypatch.setattr(dx, "build_classifier", spy)
    table = make_table()
    folds = kfold(table)
    protocol = Protocol("rr", "", REAL, REAL)
    cross_validate(table, folds, protocol, "pca-svm")
    first = [_params(p) for p in fitted]
    k, test = 1, folds[1][1]  # alter fold 1's test subjects only: fold 1's fitted scaler/PCA must not change
    altered = make_table()
    for m, width in (("fmri", 30), ("dmri", 40)):
        rows = [altered.index[s] for s in test]
        altered.blocks[m]["real"][rows] = 1e3 * np.random.default_rng(k).normal(size=(len(rows), width))
    fitted.clear()
    cross_validate(altered, folds, protocol, "pca-svm")
    assert all(np.array_equal(a, b) for a, b in zip(first[k], _params(fitted[k]), strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first[0], _params(fitted[0]), strict=True))  # sanity
    for train, test in folds:
        assert not set(train) & set(test)
    with pytest.raises(PdsError, match="both the training and the test"):
        cross_validate(table, [(folds[0][0] + folds[0][1][:1], folds[0][1])], protocol, "pca-svm")
    with pytest.raises(PdsError, match="more than one fold"):
        dx.check_folds([folds[0], folds[0]])


def _params(pipe) -> list[np.ndarray]:  # type: ignore[no-untyped-def]
    out = []
    for _, sub, _ in pipe.named_steps["features"].transformers_:
        out += [sub.named_steps["scale"].mean_, sub.named_steps["scale"].scale_, sub.named_steps["pca"].components_]
    return out


def test_protocols_use_the_requested_sources() -> None:
    table = make_table()
    rng = np.random.default_rng(5)
    # pds dMRI made pure noise: a classifier trained on it (hybrid) must lose to real->real
    table.blocks["dmri"]["pds"] = rng.normal(size=table.blocks["dmri"]["real"].shape).astype(np.float32)
    table.blocks["fmri"]["pds"] = rng.normal(size=table.blocks["fmri"]["real"].shape).astype(np.float32)
    protocols = {p.name: p for p in main_protocols("pds")}
    assert len(protocols) == 6
    folds = kfold(table)

    def bacc(name: str) -> float:
        cv = cross_validate(table, folds, protocols[name], "logreg")
        return classification_metrics(cv["y_true"], cv["y_pred"], cv["proba"], n_resamples=10)["balanced_accuracy"]

    assert bacc("real->real") > 0.8
    assert bacc("synthetic(pds)->real") < 0.6
    rr = cross_validate(table, folds, protocols["real->real"], "logreg")
    rh = cross_validate(table, folds, protocols["real->hybrid(pds dMRI)"], "logreg")
    assert rr["participant_id"] == rh["participant_id"] and not np.allclose(rr["proba"], rh["proba"])


def test_missing_scenario_protocols_and_unavailable_reasons() -> None:
    table = make_table()
    missing = choose_missing(table.ids, table.y, 0.3, seed=0)
    assert len(missing) == 9  # 3 of each class of 10
    assert choose_missing(table.ids, table.y, 0.3, seed=0) == missing
    complete = frozenset(table.ids) - missing
    protocols = {p.name: p for p in missing_protocols(missing, complete, ("pds", "unet"))}
    assert len(protocols) == 8
    impute = protocols["missing-dmri: impute-pds"]
    some = next(iter(missing))
    assert impute.train["fmri"] == "real" and impute.train["dmri"][some] == "pds"  # type: ignore[index]
    assert impute.train["dmri"][next(iter(complete))] == "real"  # type: ignore[index]
    folds = kfold(table)
    drop = cross_validate(table, folds, protocols["missing-dmri: drop"], "logreg")
    assert set(drop["participant_id"]) == complete
    for rec in drop["folds"]:
        assert rec["n_train"] + rec["n_test"] <= len(complete)
    single = protocols["missing-dmri: single-fmri"]
    assert list(single.train) == ["fmri"] and unavailable(table, folds, single) is None
    # unet syntheses absent -> the protocol says why it cannot run
    reason = unavailable(table, folds, protocols["missing-dmri: impute-unet"])
    assert reason is not None and "unet dmri" in reason
    # pds syntheses only for the test subjects of fold 0 -> training subjects lack them
    only = set(folds[0][1])
    for m in ("fmri", "dmri"):
        table.blocks[m]["pds"][[table.index[s] for s in table.ids if s not in only]] = np.nan
    hybrid = next(p for p in main_protocols() if p.name == "hybrid(pds dMRI)->real")
    assert "training" in (unavailable(table, folds[:1], hybrid) or "")
    real_to_hybrid = next(p for p in main_protocols() if p.name == "real->hybrid(pds dMRI)")
    assert unavailable(table, folds[:1], real_to_hybrid) is None


def test_classifier_errors_are_clear() -> None:
    with pytest.raises(PdsError, match="--classifier"):
        build_classifier("rf", [("fmri", 3)], np.array([0, 1, 0, 1]))
    with pytest.raises(PdsError, match="at least 2"):
        build_classifier("pca-svm", [("fmri", 3)], np.array([0, 0, 0]))
    with pytest.raises(PdsError, match="calibration"):
        build_classifier("pca-svm", [("fmri", 3)], np.array([0, 0, 0, 1]))


def _predictions(ids: list[str], y: np.ndarray, pred: np.ndarray) -> dict:
    proba = np.eye(3)[pred] * 0.8 + 0.2 / 3
    return {"participant_id": ids, "y_true": y, "y_pred": pred, "proba": proba}


def test_paired_difference_is_zero_for_equal_protocols_and_positive_for_a_better_one() -> None:
    rng = np.random.default_rng(0)
    ids = [f"sub-{i:02d}" for i in range(60)]
    y = np.repeat([0, 1, 2], 20)
    chance = _predictions(ids, y, rng.integers(0, 3, 60))
    same = dx.paired_difference(chance, chance, n_resamples=500)
    assert same["n"] == 60 and same["balanced_accuracy"] == 0 and same["balanced_accuracy_ci"] == [0.0, 0.0]
    perfect = _predictions(ids[::-1], y[::-1], y[::-1])  # another order: paired by participant_id
    better = dx.paired_difference(perfect, chance, n_resamples=500)
    expected = 1.0 - balanced_accuracy_score(y, chance["y_pred"])
    assert better["balanced_accuracy"] == pytest.approx(expected)
    assert 0 < better["balanced_accuracy_ci"][0] <= expected <= better["balanced_accuracy_ci"][1]
    assert better["auc_ovr"] > 0
    half = dx.paired_difference(perfect, chance, subjects=frozenset(ids[:30]), n_resamples=200)
    assert half["n"] == 30
    assert half["balanced_accuracy"] == pytest.approx(1.0 - balanced_accuracy_score(y[:30], chance["y_pred"][:30]))
    one = dx.paired_difference(perfect, chance, subjects=frozenset(ids[:1]))
    assert one["n"] == 1 and one["balanced_accuracy"] is None and one["balanced_accuracy_ci"] is None
    wrong = _predictions(ids, (y + 1) % 3, y)
    with pytest.raises(PdsError, match="disagree"):
        dx.paired_difference(wrong, chance)
