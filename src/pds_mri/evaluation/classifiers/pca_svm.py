"""`pca-svm`: the paper's classifier, fitted properly (one PCA basis per modality, training subjects only)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from pds_mri.errors import PdsError
from pds_mri.evaluation.classifiers.base import CLASSIFIERS, Classifier

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

MAX_COMPONENTS = 150


@CLASSIFIERS.register("pca-svm", help="the paper's: PCA per modality -> calibrated linear SVM")
class PcaSvm(Classifier):
    """One block of features per modality (voxels inside the brain mask); per block a voxel-wise
    StandardScaler and a PCA to min(150, n_train − 1, n_features) components, fitted on the training
    subjects of the fold — ONE basis per modality, applied unchanged to real and synthetic maps alike (the
    authors fitted a separate basis for real and synthetic maps, and on the test samples too). The components
    of both modalities are concatenated and fed to a linear SVM (C=1) whose probabilities are calibrated by
    sklearn's `CalibratedClassifierCV` (sigmoid/Platt, stratified inner K-fold on the training subjects with
    K = min(3, smallest class count), ensemble of the K calibrated SVMs)."""

    features = "voxels"
    description = (
        "per-modality voxel-wise StandardScaler + PCA (min(150, n_train-1) components, fitted on the "
        "training subjects only, one basis per modality shared by real and synthetic maps) -> linear SVM (C=1) "
        "with probabilities calibrated by CalibratedClassifierCV (sigmoid, stratified inner K-fold, K=min(3, "
        "smallest class))"
    )

    def pipeline(self, blocks: Sequence[tuple[str, int]], y_train: np.ndarray, seed: int) -> Pipeline:
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.compose import ColumnTransformer
        from sklearn.decomposition import PCA
        from sklearn.model_selection import StratifiedKFold
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import SVC

        n_train = len(y_train)
        counts = np.unique(y_train, return_counts=True)[1]
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
