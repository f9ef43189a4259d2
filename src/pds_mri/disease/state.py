"""An estimated disease state: NC / MCI / AD probabilities from the SOURCE map alone.

A synthesis that must not see the subject's diagnosis can still condition on what the source modality says
about it. Per direction, a source-only classifier is fitted on the training subjects of a run (never on its
validation or test subjects): voxel-wise standardisation of the source map inside the target-grid brain
mask, PCA to min(20, n − 1) components, multinomial L2 logistic regression (C = 1). sklearn fits it; the
fitted numbers are exported as plain arrays, so the run stays pickle-free and the prediction is four lines of
numpy (tested equal to sklearn's `predict_proba`).

File: RUN_DIR/disease_state.safetensors — per direction ``<direction>/<array>`` tensors; its metadata holds
the fitted subjects (participant ids) and the class order, so leakage can be audited from the file alone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pds_mri.errors import InputError, PdsError

STATE_FILE = "disease_state.safetensors"
CLASSES = ("NC", "MCI", "AD")
MAX_COMPONENTS = 20
_ARRAYS = ("voxels", "mean", "scale", "pca_mean", "components", "coef", "intercept")


@dataclass(frozen=True)
class SourceClassifier:
    """Fitted arrays of one direction: ``voxels`` are flat indices into the grid, inside the brain mask."""

    shape: tuple[int, ...]
    voxels: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    pca_mean: np.ndarray
    components: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    classes: tuple[int, ...]

    def features(self, source: np.ndarray) -> np.ndarray:
        """(N, *shape) source maps → (N, voxels) standardised features."""
        flat = np.asarray(source, dtype=np.float64).reshape(len(source), -1)[:, self.voxels]
        return (flat - self.mean) / self.scale

    def probabilities(self, source: np.ndarray) -> np.ndarray:
        """(N, *shape) source maps → (N, 3) probabilities of NC, MCI, AD (0 for a class unseen in training)."""
        if tuple(source.shape[1:]) != self.shape:
            raise PdsError(f"disease state: source grid {tuple(source.shape[1:])} is not the fitted {self.shape}")
        z = (self.features(source) - self.pca_mean) @ self.components.T
        logits = z @ self.coef.T + self.intercept
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        out = np.zeros((len(source), len(CLASSES)))
        out[:, list(self.classes)] = p
        return out


def fit_source_classifier(
    sources: np.ndarray, masks: np.ndarray, labels: Sequence[int], seed: int = 0
) -> SourceClassifier:
    """Fit on training subjects: ``sources``/``masks`` (N, *shape), ``labels`` 0..2 (unknown labels excluded)."""
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression

    y = np.asarray(labels, dtype=np.int64)
    keep = y >= 0
    sources, masks, y = np.asarray(sources)[keep], np.asarray(masks)[keep], y[keep]
    classes = np.unique(y)
    if len(classes) < 2:
        raise PdsError(f"disease state: the training subjects hold {len(classes)} diagnosis class(es); need >= 2")
    shape = tuple(sources.shape[1:])
    voxels = np.flatnonzero((masks > 0.5).all(axis=0).reshape(-1))
    if voxels.size == 0:
        raise PdsError("disease state: the training subjects' brain masks share no voxel")
    flat = sources.reshape(len(sources), -1)[:, voxels].astype(np.float64)
    mean = flat.mean(axis=0)
    scale = flat.std(axis=0)
    scale[scale < 1e-8] = 1.0
    feats = (flat - mean) / scale
    pca = PCA(n_components=max(1, min(MAX_COMPONENTS, len(y) - 1, voxels.size)), svd_solver="full").fit(feats)
    lr = LogisticRegression(C=1.0, max_iter=5000, random_state=seed).fit(pca.transform(feats), y)
    coef, intercept = lr.coef_, lr.intercept_
    if len(classes) == 2:  # sklearn's binary form: one row; expand to two softmax logits
        coef, intercept = np.vstack([-coef / 2, coef / 2]), np.array([-intercept[0] / 2, intercept[0] / 2])
    # C-contiguous copies, as a loaded file holds them: the same BLAS path, so fitted and loaded states agree
    # to the last bit (a transposed `components_` sums in another order).
    arrays = {"voxels": voxels, "mean": mean, "scale": scale, "pca_mean": pca.mean_}
    arrays |= {"components": pca.components_, "coef": coef, "intercept": intercept}
    return SourceClassifier(
        shape=shape,
        classes=tuple(int(c) for c in classes),
        **{name: np.ascontiguousarray(a) for name, a in arrays.items()},
    )


@dataclass(frozen=True)
class DiseaseState:
    """One source classifier per direction, and the subjects they were fitted on."""

    classifiers: Mapping[str, SourceClassifier]
    fitted_on: tuple[str, ...]

    def probabilities(self, direction: str, source: np.ndarray) -> np.ndarray:
        if direction not in self.classifiers:
            raise PdsError(f"disease state: no classifier for direction {direction}")
        return self.classifiers[direction].probabilities(source)

    def save(self, path: Path) -> None:
        from safetensors.numpy import save

        from pds_mri.io.atomic import write_bytes

        tensors: dict[str, np.ndarray] = {}
        for direction, clf in self.classifiers.items():
            for name in _ARRAYS:
                tensors[f"{direction}/{name}"] = np.ascontiguousarray(getattr(clf, name))
        meta = {
            "format": "pds-mri disease state 1",
            "fitted_on": json.dumps(list(self.fitted_on)),
            "class_names": json.dumps(list(CLASSES)),
            "directions": json.dumps(
                {d: {"shape": list(c.shape), "classes": list(c.classes)} for d, c in self.classifiers.items()}
            ),
        }
        write_bytes(path, save(tensors, metadata=meta))

    @classmethod
    def load(cls, path: Path) -> DiseaseState:
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(str(path), framework="numpy") as fh:
                meta = fh.metadata() or {}
                arrays = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 (safe_open has no __iter__)
            directions = json.loads(meta["directions"])
            fitted_on = tuple(json.loads(meta["fitted_on"]))
            classifiers = {
                d: SourceClassifier(
                    shape=tuple(int(s) for s in info["shape"]),
                    classes=tuple(int(c) for c in info["classes"]),
                    **{name: arrays[f"{d}/{name}"] for name in _ARRAYS},
                )
                for d, info in directions.items()
            }
        except FileNotFoundError:
            raise InputError(path, "file not found") from None
        except (SafetensorError, OSError, KeyError, ValueError, TypeError) as exc:
            raise InputError(path, f"not a pds-mri disease-state file ({exc})") from None
        return cls(classifiers, fitted_on)
