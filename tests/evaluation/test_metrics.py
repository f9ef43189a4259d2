"""Our masked metrics agree with scikit-image where both apply (full mask), and react to errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from pds_mri.evaluation.metrics import mae, psnr, ssim


@pytest.fixture
def pair() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    target = torch.nn.functional.avg_pool3d(torch.rand(1, 1, 24, 22, 20, generator=g) * 2 - 1, 3, 1, 1)
    pred = (target + 0.1 * torch.randn(target.shape, generator=g)).clamp(-1, 1)
    return pred, target


def test_psnr_and_ssim_match_scikit_image_on_a_full_mask(pair: tuple[torch.Tensor, torch.Tensor]) -> None:
    pred, target = pair
    mask = torch.ones_like(target)
    a, b = ((pred[0, 0] + 1) / 2).numpy().astype(np.float64), ((target[0, 0] + 1) / 2).numpy().astype(np.float64)
    assert psnr(pred, target, mask) == pytest.approx(peak_signal_noise_ratio(b, a, data_range=1.0), rel=1e-5)
    ref = structural_similarity(b, a, data_range=1.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    assert ssim(pred, target, mask) == pytest.approx(ref, abs=2e-3)


def test_metrics_ignore_voxels_outside_the_mask(pair: tuple[torch.Tensor, torch.Tensor]) -> None:
    pred, target = pair
    mask = torch.zeros_like(target)
    mask[..., 4:-4, 4:-4, 4:-4] = 1
    spoiled = pred.clone()
    spoiled[mask == 0] = -target[mask == 0]
    assert psnr(spoiled, target, mask) == pytest.approx(psnr(pred, target, mask))
    assert mae(spoiled, target, mask) == pytest.approx(mae(pred, target, mask))
    assert psnr(target, target, mask) == float("inf") and ssim(target, target, mask) == pytest.approx(1.0)
    assert ssim(pred, target, mask) < 0.99 and mae(pred, target, mask) > 0.01
