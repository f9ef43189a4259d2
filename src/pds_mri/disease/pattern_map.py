"""A disease-pattern map per training fold: where the target modality differs across diagnoses.

Voxel-wise one-way ANOVA F of the target maps of a run's TRAINING subjects (NC / MCI / AD; unknown labels
left out), inside the voxels every one of them has in its brain mask, smoothed with a Gaussian of
``sigma`` voxels and scaled to [0, 1] by its 99th percentile (clipped). 0 = no group difference among the
training subjects, 1 = among the strongest. It weights an extra term of the stage-1 loss
(``model.disease_map_weight``), so the voxels that carry the disease signal count more, and its thresholded
form gives the data-driven disease regions of the group-difference metric.

File: RUN_DIR/disease_map.safetensors — one ``<direction>`` tensor on that direction's target grid; its
metadata names the subjects it was computed from.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import cast

import numpy as np

from pds_mri.errors import InputError, PdsError

MAP_FILE = "disease_map.safetensors"
SMOOTH_SIGMA = 1.0
SCALE_PERCENTILE = 99.0
REGION_THRESHOLD = 0.5  # map value above which a voxel belongs to the data-driven disease region


def anova_f(maps: np.ndarray, labels: Sequence[int], inside: np.ndarray) -> np.ndarray:
    """Voxel-wise one-way ANOVA F of ``maps`` (N, *shape) across the groups of ``labels``; 0 outside ``inside``."""
    y = np.asarray(labels)
    groups = [g for g in np.unique(y) if g >= 0 and (y == g).sum() >= 2]
    if len(groups) < 2:
        raise PdsError("disease map: need >= 2 diagnosis groups with >= 2 training subjects each")
    x = np.asarray(maps, dtype=np.float64)
    keep = np.isin(y, groups)
    x, y = x[keep], y[keep]
    grand = x.mean(axis=0)
    between = sum((y == g).sum() * (x[y == g].mean(axis=0) - grand) ** 2 for g in groups)
    within = sum(((x[y == g] - x[y == g].mean(axis=0)) ** 2).sum(axis=0) for g in groups)
    df_b, df_w = len(groups) - 1, len(y) - len(groups)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = (between / df_b) / (within / df_w)
    f = np.where(np.isfinite(f) & inside, f, 0.0)
    return f


def disease_pattern_map(
    maps: np.ndarray, masks: np.ndarray, labels: Sequence[int], sigma: float = SMOOTH_SIGMA
) -> np.ndarray:
    """The smoothed, [0, 1]-scaled F map of ``maps`` (N, *shape) across diagnoses; float32 of ``shape``."""
    from scipy.ndimage import gaussian_filter

    inside = cast(np.ndarray, (np.asarray(masks) > 0.5).all(axis=0))  # (N, *shape) -> an array of shape
    f = gaussian_filter(anova_f(maps, labels, inside), sigma) if sigma > 0 else anova_f(maps, labels, inside)
    f = np.where(inside, f, 0.0)
    top = np.percentile(f[inside], SCALE_PERCENTILE) if inside.any() else 0.0
    if top <= 0:
        return np.zeros(f.shape, dtype=np.float32)
    return np.clip(f / top, 0.0, 1.0).astype(np.float32)


def fold_disease_regions(prepared_dir: Path, train_ids: Sequence[str]) -> dict[str, np.ndarray]:
    """Per direction, the data-driven disease region of a fold: target-grid voxels where the disease map of the
    fold's TRAINING subjects' real target maps is >= REGION_THRESHOLD. Made without any test subject, so the
    group differences scored inside it are not selected on the subjects they are measured on."""
    from pds_mri.training.data import DIRECTIONS, PreparedCohort

    cohort = PreparedCohort(prepared_dir, list(train_ids), cache=False)
    items = [cohort[i] for i in range(len(cohort))]
    labels = [int(it[DIRECTIONS[0]]["diagnosis"]) for it in items]
    out: dict[str, np.ndarray] = {}
    for direction in DIRECTIONS:
        targets = np.stack([it[direction]["target"][0].numpy() for it in items])
        masks = np.stack([it[direction]["mask"][0].numpy() for it in items])
        out[direction] = disease_pattern_map(targets, masks, labels) >= REGION_THRESHOLD
    return out


def save_maps(path: Path, maps: Mapping[str, np.ndarray], fitted_on: Sequence[str]) -> None:
    from safetensors.numpy import save

    from pds_mri.io.atomic import write_bytes

    meta = {"format": "pds-mri disease map 1", "fitted_on": json.dumps(list(fitted_on))}
    write_bytes(path, save({d: np.ascontiguousarray(m, dtype=np.float32) for d, m in maps.items()}, metadata=meta))


def load_maps(path: Path) -> tuple[dict[str, np.ndarray], tuple[str, ...]]:
    """The per-direction maps and the subjects they were computed from."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="numpy") as fh:
            meta = fh.metadata() or {}
            maps = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118
        fitted_on = tuple(json.loads(meta["fitted_on"]))
    except FileNotFoundError:
        raise InputError(path, "file not found") from None
    except (SafetensorError, OSError, KeyError, ValueError, TypeError) as exc:
        raise InputError(path, f"not a pds-mri disease-map file ({exc})") from None
    return maps, fitted_on
