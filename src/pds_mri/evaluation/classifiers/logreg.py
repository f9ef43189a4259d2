"""`logreg`: regional features, StandardScaler, multinomial L2 logistic regression; probabilities as is."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from pds_mri.evaluation.classifiers.base import CLASSIFIERS, Classifier

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline


@CLASSIFIERS.register("logreg", help="ROI means -> logistic regression")
class LogReg(Classifier):
    """Mean map value in each Dosenbach-160 ROI inside the mask, per modality; StandardScaler; multinomial
    L2-regularised logistic regression (C=1, lbfgs)."""

    features = "regions"
    description = (
        "mean map value per Dosenbach-160 ROI inside the mask, per modality -> StandardScaler -> "
        "multinomial L2 logistic regression (C=1, lbfgs)"
    )

    def pipeline(self, blocks: Sequence[tuple[str, int]], y_train: np.ndarray, seed: int) -> Pipeline:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import StandardScaler

        return Pipeline(
            [
                ("scale", StandardScaler()),
                ("clf", LogisticRegression(C=1.0, max_iter=5000, random_state=seed)),
            ]
        )
