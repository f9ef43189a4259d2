"""Stage losses: zero at the truth, positive otherwise, finite gradients, masks respected."""

from __future__ import annotations

import pytest
import torch

from pds_mri.models.losses import (
    masked_l1,
    multiscale_gradient_loss,
    tissue_contrast_loss,
    tissue_means,
    tissue_weighted_l1,
    triplanar_ssim_loss,
)

WEIGHTS = (2.0, 1.5, 1.0)


def _losses(pred: torch.Tensor, b: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    y, m, tis = b["target"], b["mask"], b["tissue"]
    return {
        "l1": masked_l1(pred, y, m),
        "tissue_l1": tissue_weighted_l1(pred, y, tis, m, WEIGHTS),
        "contrast": tissue_contrast_loss(pred, y, tis, m),
        "grad": multiscale_gradient_loss(pred, y, m),
        "ssim": triplanar_ssim_loss(pred, y, m),
    }


def test_losses_vanish_at_the_truth(batch: dict[str, torch.Tensor]) -> None:
    for name, value in _losses(batch["target"].clone(), batch).items():
        assert abs(value.item()) < 1e-5, name


def test_losses_finite_positive_with_gradients(batch: dict[str, torch.Tensor]) -> None:
    noise = torch.randn(batch["target"].shape, generator=torch.Generator().manual_seed(0))
    pred = (batch["target"] * 0.7 + 0.2 * noise).requires_grad_(True)
    values = _losses(pred, batch)
    for name, value in values.items():
        assert torch.isfinite(value) and value.item() > 0, name
        (grad,) = torch.autograd.grad(value, pred)
        assert torch.isfinite(grad).all() and grad.abs().sum() > 0, name


def test_masks_exclude_the_background(batch: dict[str, torch.Tensor]) -> None:
    pred = batch["target"].clone()
    pred[batch["mask"] == 0] = 5.0  # garbage outside the brain only
    values = _losses(pred, batch)
    for name in ("l1", "tissue_l1", "contrast", "grad"):
        assert values[name].item() < 1e-5, name


def test_contrast_term_sees_tissue_contrast_not_a_uniform_error(batch: dict[str, torch.Tensor]) -> None:
    y, tis, m = batch["target"], batch["tissue"], batch["mask"]
    flattened = torch.full_like(y, tissue_means(y, tis, m).mean().item() * 2 - 1)  # all contrast lost
    assert tissue_contrast_loss(flattened, y, tis, m) > 0.05
    gm = tis[:, :1]
    boosted = y + 0.3 * gm  # GM brighter: a contrast change
    assert tissue_contrast_loss(boosted, y, tis, m) > 1e-3
    w_gm = tissue_weighted_l1(y + 0.1 * gm, y, tis, m, WEIGHTS)
    w_equal = tissue_weighted_l1(y + 0.1 * gm, y, tis, m, (1.0, 1.0, 1.0))
    assert w_gm > w_equal  # GM errors weigh more with the default weights


def test_gradient_and_ssim_losses_penalise_blur(batch: dict[str, torch.Tensor]) -> None:
    y, m = batch["target"], batch["mask"]
    blurred = torch.nn.functional.avg_pool3d(y, 3, stride=1, padding=1, count_include_pad=False)
    shifted = y + (blurred - y).abs().mean()  # same L1 error, but no loss of detail
    assert multiscale_gradient_loss(blurred, y, m) > multiscale_gradient_loss(shifted, y, m)
    assert triplanar_ssim_loss(blurred, y, m) > triplanar_ssim_loss(shifted, y, m)


@pytest.mark.parametrize("name", ["triplanar_ssim_loss", "multiscale_gradient_loss", "masked_l1", "masked_mse"])
def test_losses_are_fp32_under_bf16_autocast(name: str) -> None:
    """Regression: under CPU bf16 autocast the tri-planar SSIM loss of a target + 2 % noise pair read 0.035
    instead of 0.0055 and its gradient pointed elsewhere (cosine 0.195). Losses now run in fp32."""
    import pds_mri.models.losses as losses

    fn = getattr(losses, name)
    g = torch.Generator().manual_seed(0)
    target = torch.tanh(torch.randn(1, 1, 24, 24, 16, generator=g))
    noisy = (target + 0.02 * torch.randn(target.shape, generator=g)).requires_grad_(True)
    mask = torch.ones_like(target)
    reference = fn(noisy, target, mask)
    (grad_ref,) = torch.autograd.grad(reference, noisy)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        value = fn(noisy, target, mask)
    (grad,) = torch.autograd.grad(value, noisy)
    assert value.dtype == torch.float32
    assert abs(value.item() - reference.item()) < 1e-3
    cosine = torch.nn.functional.cosine_similarity(grad.flatten(), grad_ref.flatten(), dim=0)
    assert cosine > 0.99


def test_losses_are_batch_means_of_per_sample_means(batch: dict[str, torch.Tensor]) -> None:
    """Data-parallel training averages the ranks' losses: each sample must count once, whatever its mask size,
    or one process at batch 2B and two at batch B optimise different losses."""
    b = {k: v.clone() for k, v in batch.items()}
    b["mask"][1, :, : b["mask"].shape[2] // 2] = 0  # the second sample's brain is half as big
    pred = b["target"] + 0.3 * torch.sin(3 * b["source"])
    whole = _losses(pred, b)
    parts = [_losses(pred[i : i + 1], {k: v[i : i + 1] for k, v in b.items()}) for i in range(2)]
    for name, value in whole.items():
        mean = (parts[0][name] + parts[1][name]) / 2
        torch.testing.assert_close(value, mean, rtol=1e-5, atol=1e-7, msg=name)


def test_float64_losses_stay_float64(batch: dict[str, torch.Tensor]) -> None:
    b = {k: v.double() if v.is_floating_point() else v for k, v in batch.items()}
    dtypes = {k: v.dtype for k, v in _losses(b["source"], b).items() if k != "ssim"}  # MONAI's SSIM is float32
    assert set(dtypes.values()) == {torch.float64}, dtypes
