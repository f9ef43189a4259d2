"""``unet`` baseline: 3D U-Net regression source → target with a masked L1 (or L2) loss.

One network for both directions (like PDS): the PDS denoiser architecture
(:class:`~pds_mri.models.denoiser.ConditionalDenoiser3D`, same channels) whose FiLM conditioning is a learned
direction embedding only (no timestep, no diagnosis, no pattern). Its two input channels are the source
map resampled to the target grid and the brain mask (±1), so it sees what PDS's denoiser sees apart from
the noisy target. One forward pass per synthesis; the output is clamped to [−1, 1] and −1 outside the mask,
exactly as PDS's output.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from pds_mri.domain import BACKGROUND, DIRECTIONS
from pds_mri.models.conditioning import NUM_DIRECTIONS
from pds_mri.models.denoiser import ConditionalDenoiser3D, parameter_count
from pds_mri.models.losses import STAGE1_LOSSES
from pds_mri.training.sample_rng import Rng


class RegressionUNet3D(nn.Module):
    """(batch with source, mask, direction) → (B,1,X,Y,Z) target estimate."""

    def __init__(self, emb_dim: int, **denoiser_kwargs: object) -> None:
        super().__init__()
        self.net = ConditionalDenoiser3D(emb_dim, in_channels=2, out_channels=1, **denoiser_kwargs)  # type: ignore[arg-type]
        self.direction = nn.Embedding(NUM_DIRECTIONS, emb_dim)

    def num_parameters(self) -> int:
        return parameter_count(self)

    def forward(self, batch: Mapping[str, Tensor]) -> Tensor:
        source = batch["source"]
        mask = batch.get("mask")
        mask_channel = torch.ones_like(source) if mask is None else (mask > 0).to(source.dtype) * 2.0 - 1.0
        direction = batch.get("direction")
        if direction is None:
            raise ValueError("the batch needs 'direction' (0 = fmri2dmri, 1 = dmri2fmri)")
        return self.net(mask_channel, source, self.direction(direction.long()))

    @torch.no_grad()
    def synthesize(self, batch: Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
        """(estimate, std) like every synthesis; one deterministic pass, so the std is 0."""
        out = self(batch).clamp(-1.0, 1.0)
        mask = batch.get("mask")
        if mask is not None:
            out = torch.where(mask > 0, out, torch.full_like(out, BACKGROUND))
        return out, torch.zeros_like(out)


class RegressionObjective(nn.Module):
    """Both directions' masked L1 or L2 in one forward (the Trainer's model; DDP-safe like PDS's objectives).

    L2 estimates the conditional mean (what PSNR rewards), L1 the conditional median.
    """

    def __init__(self, generator: RegressionUNet3D, loss: str = "l1") -> None:
        super().__init__()
        if loss not in STAGE1_LOSSES:
            raise ValueError(f"loss must be one of {sorted(STAGE1_LOSSES)}, got {loss!r}")
        self.generator = generator
        self.loss_name = loss
        self.loss_fn = STAGE1_LOSSES[loss]

    def forward(self, batch: Mapping[str, Mapping[str, Tensor]], generator: Rng = None) -> dict:
        out: dict[str, Tensor] = {}
        total: Tensor | float = 0.0
        for direction in DIRECTIONS:
            item = batch[direction]
            value = self.loss_fn(self.generator(item), item["target"], item.get("mask"))
            total = total + value
            out[f"{direction}/{self.loss_name}"] = value.detach()
        out["loss"] = total  # type: ignore[assignment]
        return out
