"""Settings of the non-diffusion baselines and their builders.

Sizes are derived from the PDS config (``PDSConfig``): the generator *is* a PDS denoiser network
(:class:`~pds_mri.models.denoiser.ConditionalDenoiser3D`, same channels, levels, blocks and attention), so
the baselines and PDS differ in the training paradigm, not in capacity. Only what PDS has no counterpart
for lives here (loss weights and the discriminator); the defaults are pix2pix's (Isola et al. 2017:
L1 × 100, Adam β1 = 0.5) with a least-squares GAN loss (Mao et al. 2017), which is the more stable of the
two on small 3D batches. Recorded in each run's ``model.json``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class BaselineConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    loss: Literal["l1", "l2"] = Field(
        "l2", description="unet: masked regression loss (L2 = conditional mean; measured better than L1)"
    )
    budget: Literal["pds-total", "stage1"] = Field(
        "pds-total",
        description="optimiser steps of a one-stage baseline: PDS's stage 1 + stage 2 (equal budget) or stage 1 only",
    )
    l1_weight: float = Field(100.0, ge=0.0, description="pix2pix3d: weight of the masked L1 term")
    adversarial: Literal["lsgan", "bce"] = "lsgan"
    disc_channels: int | None = Field(None, ge=1, description="PatchGAN width; default: the denoiser's base_channels")
    disc_layers: int = Field(3, ge=1, description="stride-2 layers of the PatchGAN (receptive field grows with it)")
    disc_max_mult: int = Field(8, ge=1)
    disc_lr: float | None = Field(None, gt=0, description="discriminator Adam lr; default: stage-1 lr")
    disc_betas: tuple[float, float] = (0.5, 0.999)
