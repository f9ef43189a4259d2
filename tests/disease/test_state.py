"""The source-only disease-state classifier: equal to sklearn's pipeline, pickle-free round trip, bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression

from pds_mri.disease.state import CLASSES, DiseaseState, fit_source_classifier
from pds_mri.errors import InputError, PdsError


def _cohort(n_per_class: int = 6, shape: tuple[int, ...] = (6, 5, 4), seed: int = 0):
    """Noise (``seed``) plus a class-proportional effect that is the same for every cohort."""
    rng = np.random.default_rng(seed)
    labels = np.repeat([0, 1, 2], n_per_class)
    effect = np.random.default_rng(99).normal(size=shape)
    sources = rng.normal(size=(len(labels), *shape)) * 0.5 + labels[:, None, None, None] * effect
    masks = np.ones_like(sources)
    masks[:, 0] = 0  # one slab outside every brain
    return sources, masks, labels


def test_probabilities_equal_sklearn_pipeline_fitted_on_the_same_voxels() -> None:
    sources, masks, labels = _cohort()
    clf = fit_source_classifier(sources, masks, labels)
    flat = sources[:, 1:].reshape(len(labels), -1)  # the voxels inside every mask
    feats = (flat - flat.mean(0)) / flat.std(0)
    pca = PCA(n_components=len(labels) - 1, svd_solver="full").fit(feats)
    lr = LogisticRegression(C=1.0, max_iter=5000, random_state=0).fit(pca.transform(feats), labels)
    probe = sources + np.random.default_rng(1).normal(size=sources.shape) * 0.1
    pflat = probe[:, 1:].reshape(len(labels), -1)
    expected = lr.predict_proba(pca.transform((pflat - flat.mean(0)) / flat.std(0)))
    np.testing.assert_allclose(clf.probabilities(probe), expected, atol=1e-8)
    assert clf.voxels.size == flat.shape[1]


def test_separable_classes_are_recognised_and_rows_sum_to_one() -> None:
    sources, masks, labels = _cohort(seed=2)
    clf = fit_source_classifier(sources, masks, labels)
    test, _, test_labels = _cohort(seed=3)
    probs = clf.probabilities(test)
    np.testing.assert_allclose(probs.sum(1), 1.0)
    assert (probs.argmax(1) == test_labels).mean() > 0.8


def test_unknown_labels_are_left_out_and_two_classes_still_give_three_columns() -> None:
    sources, masks, labels = _cohort()
    labels = labels.copy()
    labels[labels == 1] = -1  # MCI unknown: fitted on NC vs AD only
    clf = fit_source_classifier(sources, masks, labels)
    probs = clf.probabilities(sources)
    assert probs.shape == (len(labels), len(CLASSES)) and np.all(probs[:, 1] == 0)
    np.testing.assert_allclose(probs.sum(1), 1.0)
    assert (probs[labels == 0, 0] > 0.5).all() and (probs[labels == 2, 2] > 0.5).all()


def test_one_class_is_an_error() -> None:
    sources, masks, _ = _cohort()
    with pytest.raises(PdsError, match="1 diagnosis class"):
        fit_source_classifier(sources, masks, np.zeros(len(sources), dtype=int))


def test_save_load_round_trip_keeps_probabilities_and_fitted_subjects(tmp_path: Path) -> None:
    sources, masks, labels = _cohort()
    clf = fit_source_classifier(sources, masks, labels)
    ids = tuple(f"sub-{i:02d}" for i in range(len(labels)))
    path = tmp_path / "disease_state.safetensors"
    DiseaseState({"fmri2dmri": clf}, ids).save(path)
    loaded = DiseaseState.load(path)
    assert loaded.fitted_on == ids
    np.testing.assert_array_equal(loaded.probabilities("fmri2dmri", sources), clf.probabilities(sources))
    with pytest.raises(PdsError, match="no classifier"):
        loaded.probabilities("dmri2fmri", sources)
    with pytest.raises(PdsError, match="source grid"):
        loaded.probabilities("fmri2dmri", sources[:, :3])


@pytest.mark.parametrize("content", [b"", b"not safetensors at all", b"\x08\x00\x00\x00\x00\x00\x00\x00{}      "])
def test_corrupt_state_file_is_one_clear_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "disease_state.safetensors"
    path.write_bytes(content)
    with pytest.raises(InputError, match=r"disease_state\.safetensors"):
        DiseaseState.load(path)
    with pytest.raises(InputError, match="not found"):
        DiseaseState.load(tmp_path / "absent.safetensors")
