"""The contract every registered classifier keeps: a new file in `evaluation/classifiers/` is checked here
without being named. Tiny separable data in two feature blocks, as `pds diagnose` lays them out."""

from __future__ import annotations

import numpy as np
import pytest

from pds_mri.errors import PdsError
from pds_mri.evaluation.classifiers import CLASSIFIERS, build_classifier, check_fitted_on
from pds_mri.evaluation.features import KINDS

NAMES = CLASSIFIERS.names()
BLOCKS = [("fmri", 7), ("dmri", 5)]


def _data(per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Three classes, far apart in every column of both blocks (fixed centres; `seed` draws the subjects)."""
    centres = np.random.default_rng(0).normal(0.0, 6.0, (3, sum(w for _, w in BLOCKS)))
    y = np.repeat(np.arange(3), per_class)
    noise = np.random.default_rng(seed).normal(0.0, 0.3, (y.size, centres.shape[1]))
    return (centres[y] + noise).astype(np.float32), y


def test_every_classifier_is_described_and_names_its_features() -> None:
    assert {"pca-svm", "logreg"} <= set(NAMES) and CLASSIFIERS.default == "pca-svm"
    for name in NAMES:
        cls = CLASSIFIERS.get(name)
        assert cls.features in KINDS and cls.description and CLASSIFIERS.help(name)


@pytest.mark.parametrize("name", NAMES)
def test_fits_and_predicts_a_separable_set_with_probabilities(name: str) -> None:
    x_train, y_train = _data(6, seed=1)
    x_test, y_test = _data(3, seed=2)  # other subjects of the same classes
    pipe = build_classifier(name, BLOCKS, y_train, seed=0).fit(x_train, y_train)
    proba = pipe.predict_proba(x_test)
    assert proba.shape == (len(y_test), 3) and np.all((proba >= 0) & (proba <= 1))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert (pipe.predict(x_test) == y_test).all()


@pytest.mark.parametrize("name", NAMES)
def test_the_leakage_guard_passes_a_training_fit_and_catches_one_on_every_row_and_it_is_seeded(name: str) -> None:
    """The guard `pds diagnose` runs on every fold: each fitted scaler / PCA must have seen the training rows
    only. A pipeline (wrongly) fitted on every row, test rows included, must be refused by it."""
    x, y = _data(6, seed=2)
    train = np.arange(y.size) % 3 != 0  # every third row held out
    fits = [build_classifier(name, BLOCKS, y[train], seed=5).fit(x[train], y[train]) for _ in range(2)]
    assert check_fitted_on(fits[0], int(train.sum()))
    leaky = build_classifier(name, BLOCKS, y[train], seed=5).fit(x, y)
    with pytest.raises(PdsError):
        check_fitted_on(leaky, int(train.sum()))
    np.testing.assert_array_equal(fits[0].predict_proba(x[~train]), fits[1].predict_proba(x[~train]))


@pytest.mark.parametrize("name", NAMES)
def test_one_class_is_refused_in_one_line(name: str) -> None:
    with pytest.raises(PdsError, match="at least 2"):
        build_classifier(name, BLOCKS, np.zeros(6, dtype=int))
