"""The leakage guard: every fitted scaler / PCA of a classifier saw exactly the fold's training subjects."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from pds_mri.errors import PdsError

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline


def fitted_sample_counts(pipeline: Pipeline) -> dict[str, int]:
    """How many samples each fitted unsupervised step (scaler, PCA) saw: {step path: n}."""
    from sklearn.compose import ColumnTransformer
    from sklearn.decomposition import PCA
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    out: dict[str, int] = {}

    def visit(prefix: str, est: Any) -> None:
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
