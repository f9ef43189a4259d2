"""Losses of the PDS stages. All take (B,1,X,Y,Z) volumes in [-1, 1] and an optional brain mask.

* stage 1: :func:`masked_l1` (inside the brain, and again inside the pattern ROIs);
* tissue refinement: :func:`tissue_weighted_l1` + :func:`tissue_contrast_loss`;
* microstructure refinement: :func:`multiscale_gradient_loss` + :func:`triplanar_ssim_loss`.

Every loss is a mean over the batch of per-sample means (see :func:`_weighted_mean`), so data-parallel
training at batch B per rank optimises what one process at the global batch does.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import torch
import torch.nn.functional as F
from monai.metrics.regression import compute_ssim_and_cs
from torch import Tensor

from pds_mri.models.micro_refiner import VIEW_AXES, fold_view

TISSUE_PAIRS = ((0, 1), (0, 2), (1, 2))  # GM/WM, GM/CSF, WM/CSF
_LossFn = TypeVar("_LossFn", bound=Callable[..., Tensor])


def _at_least_fp32(x: Any) -> Any:
    return x.float() if isinstance(x, Tensor) and x.dtype in (torch.float16, torch.bfloat16) else x


def fp32(fn: _LossFn) -> _LossFn:
    """Run a loss in float32 (float64 inputs stay float64) with autocast off, whatever precision the networks ran in.

    Under bf16 autocast the SSIM's local-mean convolutions and the small differences of the gradient and
    L1 terms lose most of their digits (a tri-planar SSIM loss of a target + 2 % noise pair read 0.035
    instead of 0.0055); the loss and its gradient must be those of the fp32 objective. float64 is kept so a
    float64 run (the data-parallel equivalence test) is float64 throughout.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Tensor:
        cast = [_at_least_fp32(a) for a in args]
        kw = {k: _at_least_fp32(v) for k, v in kwargs.items()}
        device = next((a.device.type for a in args if isinstance(a, Tensor)), "cpu")
        with torch.autocast(device_type=device, enabled=False):
            return fn(*cast, **kw)

    return wrapper  # type: ignore[return-value]


def _weighted_mean(values: Tensor, weight: Tensor | None, batch: int | None = None) -> Tensor:
    """Each sample's weighted mean over its own voxels, then the mean over the ``batch`` samples (dimension 0,
    or its first ``batch`` blocks for a folded (B·S, ...) view); a sample with no weight counts as 0.

    Why per sample: the gradient all-reduce of data-parallel training averages the ranks' losses, which is the
    batch mean of per-sample means; a mean over the batch's pooled voxels would weight each sample by its mask
    size, so two processes at batch B and one at batch 2B would optimise different losses.
    """
    n = values.shape[0] if batch is None else batch
    if weight is None:
        return values.mean()  # equal-sized samples: the pooled mean is the mean of per-sample means
    v = values.reshape(n, -1)
    w = weight.to(values.dtype).expand_as(values).reshape(n, -1)
    return ((v * w).sum(1) / w.sum(1).clamp(min=1e-8)).mean()


@fp32
def masked_l1(pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mean |pred − target| over each sample's voxels where ``mask`` > 0 (all voxels when None; 0 for an empty
    mask), averaged over the batch."""
    return _weighted_mean((pred - target).abs(), None if mask is None else (mask > 0))


@fp32
def masked_mse(pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mean (pred − target)² over voxels where ``mask`` > 0: the usual DDPM objective, as an option."""
    return _weighted_mean((pred - target) ** 2, None if mask is None else (mask > 0))


STAGE1_LOSSES = {"l1": masked_l1, "l2": masked_mse}


@fp32
def weighted_l1(pred: Tensor, target: Tensor, weight: Tensor) -> Tensor:
    """Each sample's Σ w·|pred − target| / Σ w, averaged over the batch, for voxel weights ``w`` ≥ 0 (e.g. the
    disease-pattern map inside the brain); a sample without weight counts as 0 (`_weighted_mean`)."""
    return _weighted_mean((pred - target).abs(), weight)


@fp32
def weighted_mse(pred: Tensor, target: Tensor, weight: Tensor) -> Tensor:
    """Each sample's Σ w·(pred − target)² / Σ w, averaged over the batch: :func:`weighted_l1`'s L2 form."""
    return _weighted_mean((pred - target) ** 2, weight)


WEIGHTED_STAGE1_LOSSES = {"l1": weighted_l1, "l2": weighted_mse}


def tissue_weights_map(tissue: Tensor, weights: Sequence[float]) -> Tensor:
    """Voxel weights Σ_k w_k·p_k + (1 − Σ_k p_k): weight 1 where no tissue probability is assigned."""
    w = torch.as_tensor(list(weights), dtype=tissue.dtype, device=tissue.device).reshape(1, 3, 1, 1, 1)
    rest = (1.0 - tissue.sum(1, keepdim=True)).clamp(min=0)
    return (tissue * w).sum(1, keepdim=True) + rest


@fp32
def tissue_weighted_l1(
    pred: Tensor, target: Tensor, tissue: Tensor, mask: Tensor | None, weights: Sequence[float]
) -> Tensor:
    """L1 weighted per tissue (GM, WM, CSF order), so the contrasts that matter are fitted first."""
    w = tissue_weights_map(tissue, weights)
    if mask is not None:
        w = w * (mask > 0)
    return _weighted_mean((pred - target).abs(), w)


def tissue_means(x: Tensor, tissue: Tensor, mask: Tensor | None = None) -> Tensor:
    """Soft mean intensity of each tissue, (B, 3), on the [0, 1] scale ((x + 1) / 2)."""
    p = tissue if mask is None else tissue * (mask > 0)
    x01 = (x + 1.0) / 2.0
    return (p * x01).sum((2, 3, 4)) / p.sum((2, 3, 4)).clamp(min=1e-6)


@fp32
def tissue_contrast_loss(
    pred: Tensor, target: Tensor, tissue: Tensor, mask: Tensor | None = None, eps: float = 0.05
) -> Tensor:
    """Mean |log ratio| error of the GM/WM, GM/CSF and WM/CSF mean-intensity ratios (output vs truth).

    Ratios are taken on the [0, 1] scale with ``eps`` added, because means on [−1, 1] can be ~0 and
    make a ratio explode; in log space the term is symmetric in over- and under-estimation.
    """
    mp = torch.log(tissue_means(pred, tissue, mask) + eps)
    mt = torch.log(tissue_means(target, tissue, mask) + eps)
    errs = [((mp[:, a] - mp[:, b]) - (mt[:, a] - mt[:, b])).abs() for a, b in TISSUE_PAIRS]
    return torch.stack(errs, 1).mean()


@fp32
def multiscale_gradient_loss(
    pred: Tensor, target: Tensor, mask: Tensor | None = None, scales: Sequence[int] = (1, 2, 4)
) -> Tensor:
    """L1 between finite differences along x, y, z at several average-pooled scales (edges and detail).

    Differences count only between pooled cells lying wholly in the mask; scales too coarse for the grid
    are skipped.
    """
    terms: list[Tensor] = []
    for s in scales:
        if min(pred.shape[2:]) < 2 * s:
            continue
        p, t = (F.avg_pool3d(pred, s), F.avg_pool3d(target, s)) if s > 1 else (pred, target)
        m = None
        if mask is not None:
            m = (F.avg_pool3d((mask > 0).float(), s) if s > 1 else (mask > 0).float()) > 1 - 1e-6
        for axis in VIEW_AXES:
            dp, dt = torch.diff(p, dim=axis), torch.diff(t, dim=axis)
            w = None
            if m is not None:
                n = m.shape[axis]
                w = m.narrow(axis, 0, n - 1) & m.narrow(axis, 1, n - 1)
            terms.append(_weighted_mean((dp - dt).abs(), w))
    if not terms:
        raise ValueError(f"grid {tuple(pred.shape[2:])} too small for a gradient loss")
    return torch.stack(terms).mean()


@fp32
def triplanar_ssim_loss(
    pred: Tensor,
    target: Tensor,
    mask: Tensor | None = None,
    win_size: int = 7,
    sigma: float = 1.5,
    data_range: float = 2.0,
) -> Tensor:
    """1 − mean 2D SSIM over all slices of the three views (MONAI's SSIM map, gaussian window).

    The window shrinks (odd, ≥ 3) for slices smaller than ``win_size``; with a mask, only windows centred
    in the brain count, so the trivially equal background does not inflate the score.
    """
    values: list[Tensor] = []
    for axis in VIEW_AXES:
        p, t = fold_view(pred, axis), fold_view(target, axis)
        k = min(win_size, *p.shape[2:])
        k = k if k % 2 else k - 1
        if k < 3:
            continue
        ssim_map, _ = compute_ssim_and_cs(
            p, t, spatial_dims=2, kernel_size=(k, k), kernel_sigma=(sigma, sigma), data_range=data_range
        )
        w = None
        if mask is not None:
            r = k // 2
            m = fold_view(mask, axis) > 0
            w = m[..., r : m.shape[-2] - r, r : m.shape[-1] - r]
        values.append(_weighted_mean(ssim_map, w, batch=pred.shape[0]))
    if not values:
        raise ValueError(f"grid {tuple(pred.shape[2:])} too small for SSIM")
    return 1.0 - torch.stack(values).mean()
