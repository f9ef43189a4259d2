"""Tissue priors and segmentation (GM, WM, CSF) and the Dosenbach-160 "pattern" ROIs on model grids."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import nibabel as nib
import numpy as np
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_limits

from pds_mri.config import Grid
from pds_mri.errors import InputError
from pds_mri.io.layout import TISSUES
from pds_mri.preprocess._image import float_image
from pds_mri.preprocess.resample import resample_to, to_grid
from pds_mri.preprocess.templates import dosenbach, mni_brain_mask, mni_gm, mni_wm

PRIOR_FLOOR = 0.05  # atlas weight never below this, so atrophy (e.g. CSF where MNI has GM) stays visible
_MAX_GMM_SAMPLES = 200_000  # GMM is fitted on a strided subsample of large brains, then applied to all
CHANNELS: tuple[str, ...] = TISSUES  # ("GM", "WM", "CSF"): channel order of every array and 4D image here


def _renormalise(prob: np.ndarray, axis: int) -> np.ndarray:
    """Clip to [0, 1] and scale down voxels whose tissue sum exceeds 1 (interpolation overshoot)."""
    prob = np.clip(np.nan_to_num(prob), 0.0, 1.0)
    total = prob.sum(axis=axis, keepdims=True)
    return np.where(total > 1.0, prob / np.maximum(total, 1e-12), prob).astype(np.float32)


@lru_cache(maxsize=1)
def _mni_priors_img() -> nib.Nifti1Image:
    gm = mni_gm().get_fdata(dtype=np.float32)
    wm = mni_wm().get_fdata(dtype=np.float32)
    brain = mni_brain_mask().get_fdata(dtype=np.float32)
    csf = np.clip(brain - gm - wm, 0.0, 1.0)
    return float_image(_renormalise(np.stack([gm, wm, csf], axis=-1), axis=-1), mni_gm().affine)


def _priors_like(affine: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    data = resample_to(_mni_priors_img(), affine, shape, interpolation="linear").get_fdata(dtype=np.float32)
    return _renormalise(data, axis=-1)


@lru_cache(maxsize=8)
def _priors_cached(grid: Grid) -> np.ndarray:
    out = np.moveaxis(_priors_like(grid.affine, grid.shape), -1, 0)
    out.setflags(write=False)
    return out


def mni_tissue_priors(grid: Grid) -> np.ndarray:
    """(3, X, Y, Z) GM/WM/CSF probabilities from nilearn's MNI152 2009 templates, for subjects without T1w.

    nilearn ships GM and WM templates but no CSF template: CSF = clip(brain mask - GM - WM, 0, 1).
    Values are in [0, 1] and GM + WM + CSF <= 1 (0 outside the brain).
    """
    return _priors_cached(grid).copy()


def segment_t1w(t1w: nib.Nifti1Image) -> nib.Nifti1Image:
    """Atlas-informed 3-class segmentation of an MNI-space T1w: 4D (X, Y, Z, GM/WM/CSF) in its own space.

    Brain = MNI mask resampled to the T1w & intensity > 5 % of the robust max. A 3-class
    GaussianMixture on log intensity (random_state=0, percentile means, no k-means: deterministic and
    fork-safe) gives
    posteriors; classes are ordered by mean (CSF < GM < WM on T1w), multiplied by the MNI priors
    (floored at PRIOR_FLOOR) resampled to the T1w and renormalised to sum to 1 inside the brain.
    """
    name = t1w.get_filename() or "<T1w image>"
    data = t1w.get_fdata(dtype=np.float32)
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise InputError(name, f"T1w must be 3D, got shape {data.shape}")
    shape = data.shape
    prior = _priors_like(t1w.affine, shape)
    brain_prob = resample_to(mni_brain_mask(), t1w.affine, shape, interpolation="linear").get_fdata()
    positive = data[(brain_prob >= 0.5) & (data > 0)]
    if positive.size < 100:
        raise InputError(name, "T1w barely overlaps the MNI152 brain mask; is it in MNI space?")
    brain = (brain_prob >= 0.5) & (data > 0.05 * float(np.percentile(positive, 99)))
    if brain.sum() < 100:
        raise InputError(name, "fewer than 100 brain voxels in the T1w")
    feats = np.log(data[brain]).astype(np.float64)[:, None]
    step = max(1, feats.shape[0] // _MAX_GMM_SAMPLES)
    # init_params="random" + explicit means: sklearn's k-means init runs OpenMP (libgomp), which deadlocks in
    # a worker forked by ProcessPoolExecutor once the parent has used it (`pds prepare --jobs N`).
    init = np.percentile(feats, [15, 50, 85])[:, None]
    gmm = GaussianMixture(n_components=3, init_params="random", means_init=init, random_state=0)
    # one BLAS thread: the fit's rounding depends on how BLAS splits the work, and `--nprocs` workers run
    # with fewer threads than a single process, so the tissue maps would differ with the parallelism
    # (one feature: threads bring nothing here)
    with threadpool_limits(1):
        gmm.fit(feats[::step])
        order = np.argsort(gmm.means_[:, 0])  # CSF, GM, WM
        post = gmm.predict_proba(feats)[:, order[[1, 2, 0]]]  # -> GM, WM, CSF
    weighted = post * np.maximum(prior[brain], PRIOR_FLOOR)
    weighted /= np.maximum(weighted.sum(axis=1, keepdims=True), 1e-12)
    out = np.zeros((*shape, len(CHANNELS)), dtype=np.float32)
    out[brain] = weighted
    return float_image(out, t1w.affine, like=t1w)


def tissue_on_grid(tissue_img_4d: nib.Nifti1Image, grid: Grid) -> np.ndarray:
    """(3, X, Y, Z) GM/WM/CSF probabilities on the grid, in [0, 1] with sum <= 1."""
    if len(tissue_img_4d.shape) != 4 or tissue_img_4d.shape[3] != 3:
        raise ValueError(f"tissue image must be 4D with 3 volumes (GM, WM, CSF), got {tissue_img_4d.shape}")
    data = to_grid(tissue_img_4d, grid, interpolation="linear").get_fdata(dtype=np.float32)
    return np.moveaxis(_renormalise(data, axis=-1), -1, 0)


def pattern_labels(grid: Grid, radius_mm: float = 5.0) -> np.ndarray:
    """int16 grid of Dosenbach-160 spheres labelled 1..160 in nilearn's ROI order (0 = none).

    Grids are MNI world space, so centres are used directly. A voxel belongs to an ROI when its centre is
    within radius_mm; on overlap the nearest centre wins. An ROI whose sphere holds no voxel centre (coarse
    grid) gets its nearest voxel not already the sole voxel of another ROI, so every ROI whose centre lies
    inside the grid has >= 1 voxel.
    """
    rois = dosenbach()
    shape = np.asarray(grid.shape)
    inv = np.linalg.inv(grid.affine)
    vox_mm = np.linalg.norm(grid.affine[:3, :3], axis=0)
    reach = np.ceil(max(radius_mm, 0.0) / vox_mm).astype(int) + 2
    labels = np.zeros(grid.shape, dtype=np.int16)
    best = np.full(grid.shape, np.inf)
    boxes: list[tuple[np.ndarray, np.ndarray]] = []
    for centre in rois.centres:
        ijk = nib.affines.apply_affine(inv, centre)
        lo = np.clip(np.floor(ijk).astype(int) - reach, 0, shape)
        hi = np.clip(np.floor(ijk).astype(int) + reach + 1, 0, shape)
        axes = [np.arange(a, b) for a, b in zip(lo, hi, strict=True)]
        idx = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
        dist = np.linalg.norm(nib.affines.apply_affine(grid.affine, idx) - centre, axis=1)
        boxes.append((idx, dist))
    for label, (idx, dist) in enumerate(boxes, start=1):
        win = (dist <= radius_mm) & (dist < best[tuple(idx.T)])
        labels[tuple(idx[win].T)] = label
        best[tuple(idx[win].T)] = dist[win]
    counts = np.bincount(labels.ravel(), minlength=len(boxes) + 1)
    for label, (idx, dist) in enumerate(boxes, start=1):
        ijk = nib.affines.apply_affine(inv, rois.centres[label - 1])
        if counts[label] > 0 or np.any(ijk < -0.5) or np.any(ijk > shape - 0.5):
            continue
        for k in np.argsort(dist, kind="stable"):
            owner = int(labels[tuple(idx[k])])
            if owner == 0 or counts[owner] > 1:
                counts[owner] -= 1
                labels[tuple(idx[k])] = label
                counts[label] += 1
                break
    return labels


def pattern_table() -> list[dict[str, Any]]:
    """label (1..160), MNI centre (mm), network and region name of each pattern ROI."""
    rois = dosenbach()
    return [
        {"label": i, "x": float(c[0]), "y": float(c[1]), "z": float(c[2]), "network": net, "name": name}
        for i, (c, net, name) in enumerate(zip(rois.centres, rois.networks, rois.names, strict=True), start=1)
    ]
