"""Synthesis metrics of docs/evaluation.md: 3D PSNR, SSIM and MAE inside the brain mask, on the model grid.

Protocol (written verbatim into every metrics JSON via PROTOCOL): maps are stored in [-1, 1] per subject
(robust percentile scaling), so y = (x + 1) / 2 puts each subject in [0, 1]; data range 1. SSIM uses
MONAI's Gaussian-window SSIM (11-voxel window, σ = 1.5, K1 = 0.01, K2 = 0.03, as scikit-image with
gaussian_weights=True), averaged over the mask voxels whose window lies inside the volume.
"""

from __future__ import annotations

import torch
from torch import Tensor

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
PROTOCOL = {
    "space": "model grid of the target modality",
    "region": "brain mask of the subject on that grid",
    "intensity": "stored [-1, 1] maps mapped to [0, 1] by (x + 1) / 2; data range 1",
    "psnr": "10 log10(1 / MSE) over mask voxels",
    "ssim": f"3D Gaussian window {SSIM_WINDOW} voxels, sigma {SSIM_SIGMA}, K1 0.01, K2 0.03 (MONAI); "
    "mean of the SSIM map over mask voxels whose window lies inside the volume",
    "mae": "mean absolute error over mask voxels, in [0, 1] units",
}


def to_unit(x: Tensor) -> Tensor:
    return ((x + 1.0) / 2.0).clamp(0.0, 1.0)


def _flat(x: Tensor) -> Tensor:
    return x.reshape(-1, *x.shape[-3:]).float()


def psnr(pred: Tensor, target: Tensor, mask: Tensor) -> float:
    """PSNR in dB of [-1, 1] volumes (any leading dims) inside `mask`, on the [0, 1] scale."""
    inside = _flat(mask) > 0
    err = (to_unit(_flat(pred)) - to_unit(_flat(target)))[inside]
    mse = float((err**2).mean()) if err.numel() else float("nan")
    return float("inf") if mse == 0 else 10.0 * torch.log10(torch.tensor(1.0 / mse)).item()


def mae(pred: Tensor, target: Tensor, mask: Tensor) -> float:
    inside = _flat(mask) > 0
    return float((to_unit(_flat(pred)) - to_unit(_flat(target)))[inside].abs().mean())


def ssim(pred: Tensor, target: Tensor, mask: Tensor) -> float:
    """Mean 3D SSIM over mask voxels (see module docstring); falls back to a smaller window on tiny grids."""
    from monai.metrics.regression import compute_ssim_and_cs

    x, y, m = to_unit(_flat(pred))[:1], to_unit(_flat(target))[:1], _flat(mask)[:1] > 0
    win = min(SSIM_WINDOW, *(s - (1 - s % 2) for s in x.shape[-3:]))
    ssim_map, _ = compute_ssim_and_cs(
        x[None], y[None], spatial_dims=3, kernel_size=[win] * 3, kernel_sigma=[SSIM_SIGMA] * 3, data_range=1.0
    )
    h = win // 2
    valid = m[:, h : m.shape[1] - h, h : m.shape[2] - h, h : m.shape[3] - h]
    values = ssim_map[0][valid]
    return float(values.mean()) if values.numel() else float("nan")


def all_metrics(pred: Tensor, target: Tensor, mask: Tensor) -> dict[str, float]:
    return {"psnr": psnr(pred, target, mask), "ssim": ssim(pred, target, mask), "mae": mae(pred, target, mask)}
