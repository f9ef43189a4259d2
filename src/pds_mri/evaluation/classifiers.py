"""NC / MCI / AD classifiers as sklearn Pipelines, so that every fitted step sees training subjects only.

`pca-svm` (the paper's classifier, fitted properly): one block of features per modality (voxels inside the
brain mask); per block a voxel-wise StandardScaler and a PCA to min(150, n_train − 1, n_features) components,
fitted on the training subjects of the fold — ONE basis per modality, applied unchanged to real and synthetic
maps alike (the authors fitted a separate basis for real and synthetic maps, and on the test samples too).
The components of both modalities are concatenated and fed to a linear SVM (C=1) whose probabilities are
calibrated by sklearn's `CalibratedClassifierCV` (sigmoid/Platt, stratified inner K-fold on the training
subjects with K = min(3, smallest class count), ensemble of the K calibrated SVMs).

`logreg`: regional features (mean map value in each Dosenbach-160 ROI inside the mask, per modality),
StandardScaler, multinomial L2-regularised logistic regression (C=1, lbfgs); its probabilities are used as is.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from pds_mri.errors import PdsError

CLASSIFIERS: dict[str, str] = {
    "pca-svm": "per-modality voxel-wise StandardScaler + PCA (min(150, n_train-1) components, fitted on the "
    "training subjects only, one basis per modality shared by real and synthetic maps) -> linear SVM (C=1) "
    "with probabilities calibrated by CalibratedClassifierCV (sigmoid, stratified inner K-fold, K=min(3, "
    "smallest class))",
    "logreg": "mean map value per Dosenbach-160 ROI inside the mask, per modality -> StandardScaler -> "
    "multinomial L2 logistic regression (C=1, lbfgs)",
}
FEATURE_KINDS: dict[str, str] = {"pca-svm": "voxels", "logreg": "regions"}
MAX_COMPONENTS = 150


def check_classifier(name: str) -> str:
    if name not in CLASSIFIERS:
        raise PdsError(f"--classifier {name}: choose one of {', '.join(CLASSIFIERS)}")
    return name


def build_classifier(
    name: str,
    blocks: Sequence[tuple[str, int]],
    y_train: np.ndarray,
    seed: int = 0,
) -> Pipeline:
    """An unfitted Pipeline for feature columns laid out as consecutive `blocks` of (name, width)."""
    check_classifier(name)
    y_train = np.asarray(y_train)
    n_train = len(y_train)
    counts = np.unique(y_train, return_counts=True)[1]
    if len(counts) < 2:
        raise PdsError(f"the training set has {len(counts)} diagnosis class(es); a classifier needs at least 2")
    if name == "logreg":
        return Pipeline(
            [
                ("scale", StandardScaler()),
                ("clf", LogisticRegression(C=1.0, max_iter=5000, random_state=seed)),
            ]
        )
    n_cal = min(3, int(counts.min()))
    if n_cal < 2:
        raise PdsError(
            f"pca-svm: the smallest diagnosis class has {int(counts.min())} training subject(s); probability "
            "calibration needs at least 2 per class"
        )
    transformers = []
    start = 0
    for block, width in blocks:
        n_components = max(1, min(MAX_COMPONENTS, n_train - 1, width))
        transformers.append(
            (
                block,
                Pipeline(
                    [
                        ("scale", StandardScaler()),
                        ("pca", PCA(n_components=n_components, svd_solver="full", random_state=seed)),
                    ]
                ),
                list(range(start, start + width)),
            )
        )
        start += width
    svm = CalibratedClassifierCV(
        SVC(kernel="linear", C=1.0, random_state=seed),
        method="sigmoid",
        cv=StratifiedKFold(n_splits=n_cal, shuffle=True, random_state=seed),
    )
    return Pipeline([("features", ColumnTransformer(transformers, remainder="drop")), ("clf", svm)])


def fitted_sample_counts(pipeline: Pipeline) -> dict[str, int]:
    """How many samples each fitted unsupervised step (scaler, PCA) saw: {step path: n}."""
    out: dict[str, int] = {}

    def visit(prefix: str, est: BaseEstimator) -> None:
        if isinstance(est, Pipeline):
            for step, sub in est.steps:
                visit(f"{prefix}{step}/", sub)
        elif isinstance(est, ColumnTransformer):
            for block, sub, _ in est.transformers_:
                if not isinstance(sub, str):
                    visit(f"{prefix}{block}/", sub)
        elif isinstance(est, StandardScaler):
            out[prefix.rstrip("/")] = int(np.max(est.n_samples_seen_))
        elif isinstance(est, PCA):
            out[prefix.rstrip("/")] = int(est.n_samples_)

    visit("", pipeline)
    return out


def check_fitted_on(pipeline: Pipeline, n_train: int) -> dict[str, int]:
    """Raise unless every scaler / PCA of the fitted pipeline saw exactly the n_train training samples."""
    counts = fitted_sample_counts(pipeline)
    if not counts:
        raise PdsError("no fitted scaler or PCA found in the classifier pipeline")
    wrong = {k: v for k, v in counts.items() if v != n_train}
    if wrong:
        raise PdsError(f"leakage guard: steps {wrong} were fitted on other than the {n_train} training subjects")
    return counts
