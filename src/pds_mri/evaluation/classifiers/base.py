"""What a diagnosis classifier is: an unfitted sklearn Pipeline built for the training labels of one fold.

A Pipeline, so that every fitted step (scaler, PCA, calibration) sees the training subjects only and the
leakage guard (`leakage.py`) can count what each step saw. scikit-learn is imported inside `pipeline`: the CLI
lists the classifiers (`pds diagnose --classifier`) without loading it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar, Literal

import numpy as np

from pds_mri.registry import Registry

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

FeatureKind = Literal["voxels", "regions"]  # evaluation/features.py: in-mask voxels, or one mean per ROI


class Classifier(ABC):
    """NC / MCI / AD from the feature columns of both modalities, laid out as consecutive `blocks`."""

    features: ClassVar[FeatureKind]
    description: ClassVar[str]  # the full recipe, recorded in diagnosis.json

    @abstractmethod
    def pipeline(self, blocks: Sequence[tuple[str, int]], y_train: np.ndarray, seed: int) -> Pipeline:
        """The unfitted Pipeline for columns laid out as `blocks` of (modality, width); `y_train` (the
        fold's training labels, >= 2 classes) may size its steps or refuse with a PdsError."""


#: Every classifier by name; `pds diagnose --classifier` offers these.
CLASSIFIERS: Registry[type[Classifier]] = Registry("classifier", default="pca-svm")
