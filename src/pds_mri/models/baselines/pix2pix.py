"""``pix2pix3d`` baseline: the ``unet`` generator + a conditional 3D PatchGAN (L1 × 100 + adversarial).

The generic Trainer optimises one loss with one optimiser. The alternating G/D updates therefore happen
inside this objective's forward, which the Trainer calls once per step:

1. **D step** (first): D's parameters are frozen for the Trainer (``requires_grad=False``, so they are
   neither in its AdamW nor touched by the generator's backward). Here they are switched on for one
   ``torch.autograd.grad`` of the D loss on (real, G(source).detach()) pairs and updated by
   :class:`~pds_mri.models.baselines.buffer_adam.BufferAdam` (constant lr, β = (0.5, 0.999)), whose
   moments are buffers of this module: they are checkpointed with the model, so resume is exact.
   Under torchrun the D gradients are averaged over ranks with one all-reduce.
2. **G loss** (returned): ``l1_weight`` × masked L1 + adversarial loss of D(fake) against "real";
   gradients reach G only (D is frozen again). The Trainer backpropagates and steps G.

Both real and fake volumes are set to −1 outside the brain mask before D sees them (the L1 ignores the
background, so D must not win on it). Limitation: a step the Trainer skips for a non-finite G loss has
still updated D; the EMA also averages D's weights, which nothing reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pds_mri.models.baselines.buffer_adam import BufferAdam
from pds_mri.models.baselines.config import BaselineConfig
from pds_mri.models.baselines.patchgan import PatchDiscriminator3D
from pds_mri.models.baselines.unet import BACKGROUND, DIRECTIONS, RegressionUNet3D
from pds_mri.models.losses import masked_l1
from pds_mri.training.sample_rng import Rng


def _background(x: Tensor, mask: Tensor | None) -> Tensor:
    return x if mask is None else torch.where(mask > 0, x, torch.full_like(x, BACKGROUND))


class Pix2PixObjective(nn.Module):
    def __init__(
        self, generator: RegressionUNet3D, discriminator: PatchDiscriminator3D, cfg: BaselineConfig, lr: float
    ) -> None:
        super().__init__()
        self.generator = generator
        self.discriminator = discriminator.requires_grad_(False)
        self.cfg = cfg
        self.d_optimizer = BufferAdam(list(discriminator.parameters()), cfg.disc_lr or lr, cfg.disc_betas)

    def _gan_loss(self, logits: Tensor, real: bool) -> Tensor:
        goal = torch.full_like(logits, 1.0 if real else 0.0)
        if self.cfg.adversarial == "lsgan":
            return F.mse_loss(logits, goal)
        return F.binary_cross_entropy_with_logits(logits, goal)

    def discriminator_step(self, pairs: list[tuple[Tensor, Tensor, Tensor]]) -> Tensor:
        """One Adam step of D on [(source, real, fake)], fakes detached; returns the D loss."""
        params = list(self.discriminator.parameters())
        self.discriminator.requires_grad_(True)
        try:
            with torch.enable_grad():
                loss: Tensor | float = 0.0
                for source, real, fake in pairs:
                    loss = loss + 0.5 * (
                        self._gan_loss(self.discriminator(source, real), True)
                        + self._gan_loss(self.discriminator(source, fake.detach()), False)
                    )
                # a Tensor once the loop has run: pairs holds one entry per direction
                grads = torch.autograd.grad(cast(Tensor, loss), params, allow_unused=True)
        finally:
            self.discriminator.requires_grad_(False)
        # in the parameters' dtype: a float64 run stays float64 (the data-parallel equivalence test)
        reduced = _all_reduce_mean(list(grads))
        self.d_optimizer.step(params, reduced)
        return loss.detach()  # type: ignore[union-attr]

    def forward(self, batch: Mapping[str, Mapping[str, Tensor]], generator: Rng = None) -> dict:
        out: dict[str, Tensor] = {}
        pairs = []
        fakes = {}
        for direction in DIRECTIONS:
            item = batch[direction]
            mask = item.get("mask")
            fake = self.generator(item)
            fakes[direction] = fake
            pairs.append((item["source"], _background(item["target"], mask), _background(fake, mask)))
        out["d_loss"] = self.discriminator_step(pairs)
        total: Tensor | float = 0.0
        for (source, _, fake_bg), direction in zip(pairs, DIRECTIONS, strict=True):
            item = batch[direction]
            l1 = masked_l1(fakes[direction], item["target"], item.get("mask"))
            adv = self._gan_loss(self.discriminator(source, fake_bg), True)
            total = total + self.cfg.l1_weight * l1 + adv
            out |= {f"{direction}/l1": l1.detach(), f"{direction}/g_adv": adv.detach()}
        out["loss"] = total  # type: ignore[assignment]
        return out


def _all_reduce_mean(grads: list[Tensor | None]) -> list[Tensor | None]:
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return grads
    world = dist.get_world_size()
    out: list[Tensor | None] = []
    for g in grads:
        if g is not None:
            g = g.clone()
            dist.all_reduce(g)
            g /= world
        out.append(g)
    return out
