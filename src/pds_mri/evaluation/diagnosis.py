"""Subject-level cross-validated NC / MCI / AD diagnosis: the CV engine and its metrics.

A `FeatureTable` holds, per modality and per source ("real", or a synthesis model such as "pds"/"unet"), one
feature row per subject (NaN where that subject has no such map). A `Protocol` says which source each modality
comes from at training and at test (one source for everyone, or one per subject), optionally restricted to
some subjects. `cross_validate` runs a protocol over given folds: for each fold it fits a fresh classifier
Pipeline on the training subjects only (checked: every scaler/PCA saw exactly n_train samples, and no subject
is in both sets), predicts the test subjects, and pools the out-of-fold predictions.

Metrics (pooled out-of-fold predictions, classes 0 NC, 1 MCI, 2 AD): accuracy; balanced accuracy (mean recall
over the classes present in y_true); macro F1 (over the classes present in y_true or the predictions); macro
one-vs-rest ROC AUC from the predicted probabilities (over the classes with positives and negatives; equal to
sklearn's roc_auc_score(multi_class="ovr") when all classes are present); confusion matrix (rows true, columns
predicted). 95 % CIs: percentile bootstrap over participants (resampling the pooled predictions with
replacement, a drawn participant with all its session rows; numpy default_rng(seed), N_RESAMPLES resamples), the
metric recomputed on every resample.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pds_mri.errors import PdsError
from pds_mri.evaluation.classifiers import build_classifier, check_fitted_on
from pds_mri.evaluation.resampling import Clusters
from pds_mri.evaluation.statistics import CONFIDENCE, N_RESAMPLES
from pds_mri.training.data import DIAGNOSIS_CODES

CLASSES: tuple[str, ...] = tuple(sorted(DIAGNOSIS_CODES, key=DIAGNOSIS_CODES.__getitem__))  # NC, MCI, AD
N_CLASSES = len(CLASSES)
METRIC_NAMES: tuple[str, ...] = ("accuracy", "balanced_accuracy", "macro_f1", "auc_ovr")

#: a modality's source: one name for every subject, or {participant_id: name}
Source = str | Mapping[str, str]


@dataclass
class FeatureTable:
    ids: list[str]
    y: np.ndarray
    blocks: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # modality -> source -> (n, f)

    def __post_init__(self) -> None:
        self.y = np.asarray(self.y, dtype=int)
        if len(self.ids) != len(self.y) or len(set(self.ids)) != len(self.ids):
            raise PdsError("a feature table needs distinct subject ids, one diagnosis each")
        if self.y.size and (self.y.min() < 0 or self.y.max() >= N_CLASSES):
            raise PdsError("diagnoses must be coded 0..2 (NC, MCI, AD)")
        self.index = {s: i for i, s in enumerate(self.ids)}

    def sources(self, modality: str) -> list[str]:
        return sorted(self.blocks.get(modality, {}))

    def has(self, subject: str, modality: str, source: str) -> bool:
        block = self.blocks.get(modality, {}).get(source)
        return block is not None and bool(np.isfinite(block[self.index[subject]]).all())


@dataclass(frozen=True)
class Protocol:
    name: str
    description: str
    train: Mapping[str, Source]  # modality -> source; the modalities used, in this order
    test: Mapping[str, Source]
    train_subjects: frozenset[str] | None = None  # None: every subject that has the features
    test_subjects: frozenset[str] | None = None
    group: str = "main"

    def __post_init__(self) -> None:
        if list(self.train) != list(self.test) or not self.train:
            raise PdsError(f"protocol {self.name}: train and test must use the same modalities, in the same order")


def _source_of(source: Source, subject: str) -> str | None:
    return source if isinstance(source, str) else source.get(subject)


def eligible(table: FeatureTable, subjects: Sequence[str], view: Mapping[str, Source], only: frozenset[str] | None):
    """The subjects of `subjects` (in order) that have every feature block the view asks for."""
    out = []
    for s in subjects:
        if only is not None and s not in only:
            continue
        srcs = [(m, _source_of(src, s)) for m, src in view.items()]
        if all(src is not None and table.has(s, m, src) for m, src in srcs):
            out.append(s)
    return out


def view_matrix(table: FeatureTable, subjects: Sequence[str], view: Mapping[str, Source]) -> np.ndarray:
    parts = []
    for modality, source in view.items():
        rows = []
        for s in subjects:
            src = _source_of(source, s)
            block = table.blocks[modality][src]  # type: ignore[index]
            rows.append(block[table.index[s]])
        parts.append(np.stack(rows) if rows else np.zeros((0, _width(table, modality)), np.float32))
    return np.concatenate(parts, axis=1)


def _width(table: FeatureTable, modality: str) -> int:
    return next(iter(table.blocks[modality].values())).shape[1]


def check_folds(folds: Sequence[tuple[Sequence[str], Sequence[str]]]) -> None:
    """Every fold's train and test sets are disjoint, and no subject is tested twice."""
    tested: set[str] = set()
    for k, (train, test) in enumerate(folds):
        both = set(train) & set(test)
        if both:
            raise PdsError(f"fold {k}: subject(s) {sorted(both)[:5]} are in both the training and the test set")
        again = tested & set(test)
        if again:
            raise PdsError(f"fold {k}: subject(s) {sorted(again)[:5]} are tested in more than one fold")
        tested |= set(test)


def cross_validate(
    table: FeatureTable,
    folds: Sequence[tuple[Sequence[str], Sequence[str]]],
    protocol: Protocol,
    classifier: str,
    seed: int = 0,
) -> dict[str, Any]:
    """Out-of-fold predictions of `protocol` over `folds` ((train ids, test ids) each) and per-fold records."""
    check_folds(folds)
    ids: list[str] = []
    folds_of: list[int] = []
    y_true: list[int] = []
    probas: list[np.ndarray] = []
    records = []
    for k, (train_ids, test_ids) in enumerate(folds):
        train = eligible(table, train_ids, protocol.train, protocol.train_subjects)
        test = eligible(table, test_ids, protocol.test, protocol.test_subjects)
        if set(train) & set(test):  # defensive: eligibility only removes subjects
            raise PdsError(f"{protocol.name}, fold {k}: a subject is in both sets")
        record: dict[str, Any] = {"fold": k, "n_train": len(train), "n_test": len(test)}
        records.append(record)
        if not test:
            continue
        y_train = table.y[[table.index[s] for s in train]]
        if len(np.unique(y_train)) < 2:
            raise PdsError(f"{protocol.name}, fold {k}: the training set has fewer than 2 diagnosis classes")
        blocks = [(m, _width(table, m)) for m in protocol.train]
        pipe = build_classifier(classifier, blocks, y_train, seed)
        pipe.fit(view_matrix(table, train, protocol.train), y_train)
        record["fitted_on"] = check_fitted_on(pipe, len(train))
        raw = pipe.predict_proba(view_matrix(table, test, protocol.test))
        proba = np.zeros((len(test), N_CLASSES))
        proba[:, np.asarray(pipe.classes_, dtype=int)] = raw
        ids += test
        folds_of += [k] * len(test)
        y_true += [int(table.y[table.index[s]]) for s in test]
        probas.append(proba)
    proba_all = np.concatenate(probas) if probas else np.zeros((0, N_CLASSES))
    return {
        "participant_id": ids,
        "fold": folds_of,
        "y_true": np.asarray(y_true, dtype=int),
        "y_pred": proba_all.argmax(axis=1) if len(ids) else np.zeros(0, dtype=int),
        "proba": proba_all,
        "folds": records,
    }


# --------------------------------------------------------------------------------------------- metrics


def _metrics_batch(y: np.ndarray, pred: np.ndarray, proba: np.ndarray) -> dict[str, np.ndarray]:
    """Metrics of B samples at once: y, pred (B, n) ints; proba (B, n, C). Undefined values are NaN."""
    from scipy.stats import rankdata

    b, n = y.shape
    codes = (np.arange(b)[:, None] * N_CLASSES * N_CLASSES + y * N_CLASSES + pred).ravel()
    conf = np.bincount(codes, minlength=b * N_CLASSES**2).reshape(b, N_CLASSES, N_CLASSES).astype(float)
    tp = np.diagonal(conf, axis1=1, axis2=2)
    support = conf.sum(axis=2)
    predicted = conf.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(support > 0, tp / support, np.nan)
        f1_den = support + predicted
        f1 = np.where(f1_den > 0, 2 * tp / f1_den, np.nan)
        aucs = np.full((b, N_CLASSES), np.nan)
        for c in range(N_CLASSES):
            pos = y == c
            n_pos = pos.sum(axis=1)
            n_neg = n - n_pos
            ranks = rankdata(proba[:, :, c], axis=1)
            auc = ((ranks * pos).sum(axis=1) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
            aucs[:, c] = np.where((n_pos > 0) & (n_neg > 0), auc, np.nan)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows -> NaN
        return {
            "accuracy": tp.sum(axis=1) / n,
            "balanced_accuracy": np.nanmean(recall, axis=1),
            "macro_f1": np.nanmean(f1, axis=1),
            "auc_ovr": np.nanmean(aucs, axis=1),
            "confusion": conf,
        }


def classification_metrics(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    proba: np.ndarray,
    n_resamples: int = N_RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = 0,
    ids: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Point estimates, percentile-bootstrap CIs (over participants) and the confusion matrix.

    `ids`: the row keys of the predictions (``sub-X`` or ``sub-X_ses-Y``); rows of one participant are resampled
    together. Without them every row is its own participant."""
    y_true, y_pred, proba = np.asarray(y_true, int), np.asarray(y_pred, int), np.asarray(proba, float)
    n = len(y_true)
    out: dict[str, Any] = {"n": n, "confidence": confidence, "n_resamples": n_resamples}
    if n == 0:
        return out | {m: None for m in METRIC_NAMES} | {f"{m}_ci": None for m in METRIC_NAMES} | {"confusion": None}
    point = _metrics_batch(y_true[None], y_pred[None], proba[None])
    for m in METRIC_NAMES:
        value = float(point[m][0])
        out[m] = None if np.isnan(value) else value
    out["confusion"] = point["confusion"][0].astype(int).tolist()
    out["confusion_labels"] = list(CLASSES)
    clusters = Clusters.of(range(n)) if ids is None else Clusters.of_keys(list(ids))
    draws = _bootstrap(clusters, n_resamples, seed, lambda idx: _metrics_batch(y_true[idx], y_pred[idx], proba[idx]))
    for m in METRIC_NAMES:
        # fewer than 2 participants: every resample is the same rows, a CI would have no width
        out[f"{m}_ci"] = None if len(clusters.members) < 2 or out[m] is None else _percentile_ci(draws[m], confidence)
    return out


def _bootstrap(
    clusters: Clusters, n_resamples: int, seed: int, statistic: Callable[[np.ndarray], dict[str, np.ndarray]]
) -> dict[str, np.ndarray]:
    """`statistic` of n_resamples resamples of the rows (index arrays (B, m)), participants drawn whole, in
    memory-bounded chunks."""
    rng = np.random.default_rng(seed)
    draws: dict[str, list[np.ndarray]] = {}
    chunk = max(1, min(n_resamples, 1_000_000 // max(clusters.n_rows, 1)))
    for start in range(0, n_resamples, chunk):
        for result in clusters.resample(rng, min(chunk, n_resamples - start), statistic):
            for m, values in result.items():
                draws.setdefault(m, []).append(values)
    return {m: np.concatenate(v) for m, v in draws.items()}


def _percentile_ci(values: np.ndarray, confidence: float) -> list[float] | None:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None
    alpha = (1.0 - confidence) / 2.0
    return [float(q) for q in np.quantile(values, [alpha, 1.0 - alpha])]


def subset(result: Mapping[str, Any], subjects: frozenset[str]) -> dict[str, Any]:
    """The predictions of `result` restricted to `subjects` (same layout as `cross_validate`'s output)."""
    keep = np.asarray([s in subjects for s in result["participant_id"]], dtype=bool)
    return {
        "participant_id": [s for s, k in zip(result["participant_id"], keep, strict=True) if k],
        "fold": [f for f, k in zip(result["fold"], keep, strict=True) if k],
        "y_true": result["y_true"][keep],
        "y_pred": result["y_pred"][keep],
        "proba": result["proba"][keep],
    }


def paired_difference(
    a: Mapping[str, Any],
    b: Mapping[str, Any],
    subjects: frozenset[str] | None = None,
    n_resamples: int = N_RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> dict[str, Any]:
    """a − b in balanced accuracy and AUC on their common subjects (or `subjects`), paired bootstrap CI.

    Both protocols are resampled with the same subject indices, so the CI is that of the difference, much
    narrower than the overlap of two marginal CIs suggests when the protocols err on the same subjects.
    """
    rows_a = {s: i for i, s in enumerate(a["participant_id"])}
    rows_b = {s: i for i, s in enumerate(b["participant_id"])}
    common = sorted(set(rows_a) & set(rows_b) & (subjects if subjects is not None else set(rows_a)))
    ia, ib = np.asarray([rows_a[s] for s in common], int), np.asarray([rows_b[s] for s in common], int)
    y = np.asarray(a["y_true"], int)[ia]
    if not np.array_equal(y, np.asarray(b["y_true"], int)[ib]):
        raise PdsError("paired_difference: the two protocols disagree on a subject's diagnosis")
    n = len(common)
    out: dict[str, Any] = {"n": n, "confidence": confidence, "n_resamples": n_resamples}
    metrics = ("balanced_accuracy", "auc_ovr")
    if n < 2:
        return out | {m: None for m in metrics} | {f"{m}_ci": None for m in metrics}
    pa, pb = np.asarray(a["y_pred"], int)[ia], np.asarray(b["y_pred"], int)[ib]
    qa, qb = np.asarray(a["proba"], float)[ia], np.asarray(b["proba"], float)[ib]
    point_a, point_b = _metrics_batch(y[None], pa[None], qa[None]), _metrics_batch(y[None], pb[None], qb[None])

    def differences(idx: np.ndarray) -> dict[str, np.ndarray]:
        draw_a, draw_b = _metrics_batch(y[idx], pa[idx], qa[idx]), _metrics_batch(y[idx], pb[idx], qb[idx])
        return {m: draw_a[m] - draw_b[m] for m in metrics}

    clusters = Clusters.of_keys(common)
    draws = _bootstrap(clusters, n_resamples, seed, differences)
    for m in metrics:
        diff = float(point_a[m][0] - point_b[m][0])
        out[m] = None if np.isnan(diff) else diff
        too_few = len(clusters.members) < 2  # one participant's sessions: a CI without width
        out[f"{m}_ci"] = None if out[m] is None or too_few else _percentile_ci(draws[m], confidence)
    return out
