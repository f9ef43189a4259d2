"""NC / MCI / AD classifiers, one per file, registered by name in :data:`CLASSIFIERS`.

Each builds an sklearn Pipeline, so that every fitted step sees training subjects only (`leakage.py` checks
it). A new classifier is one file here: a :class:`Classifier` subclass under
``@CLASSIFIERS.register("name", help=...)``; the package imports every module in it, so
`pds diagnose --classifier`, its help and the contract test (``tests/evaluation/classifiers/``) know it at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from pds_mri.errors import PdsError
from pds_mri.evaluation.classifiers.base import CLASSIFIERS, Classifier, FeatureKind
from pds_mri.evaluation.classifiers.leakage import check_fitted_on, fitted_sample_counts
from pds_mri.registry import import_members

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

import_members(__name__, __path__)


def check_classifier(name: str) -> str:
    return CLASSIFIERS.check(name, "--classifier")


def build_classifier(
    name: str,
    blocks: Sequence[tuple[str, int]],
    y_train: np.ndarray,
    seed: int = 0,
) -> Pipeline:
    """An unfitted Pipeline for feature columns laid out as consecutive `blocks` of (name, width)."""
    cls = CLASSIFIERS.get(name, "--classifier")
    y_train = np.asarray(y_train)
    counts = np.unique(y_train, return_counts=True)[1]
    if len(counts) < 2:
        raise PdsError(f"the training set has {len(counts)} diagnosis class(es); a classifier needs at least 2")
    return cls().pipeline(blocks, y_train, seed)


__all__ = [
    "CLASSIFIERS",
    "Classifier",
    "FeatureKind",
    "build_classifier",
    "check_classifier",
    "check_fitted_on",
    "fitted_sample_counts",
]
