"""The ``pix2pix3d`` family: the unet generator trained against a 3D PatchGAN (L1 × 100 + LSGAN)."""

from __future__ import annotations

from typing import cast

from torch import nn

from pds_mri.config import Config
from pds_mri.families import unet  # noqa: F401  (registered first: the registry lists unet before pix2pix3d)
from pds_mri.families.base import FAMILIES
from pds_mri.families.one_pass import OnePassFamily, baseline_config
from pds_mri.families.spec import ModelSpec
from pds_mri.models.baselines.factory import build_discriminator, build_generator
from pds_mri.models.baselines.pix2pix import Pix2PixObjective


class Pix2Pix3DFamily(OnePassFamily):
    name = "pix2pix3d"
    specs = (
        ModelSpec(
            "pix2pix3d",
            "pix2pix3d",
            "pix2pix-3D: the unet generator + 3D PatchGAN (L1 x100 + LSGAN)",
            benchmark_default=True,
        ),
    )

    def build_objective(self, config: Config) -> nn.Module:
        cfg = baseline_config(config)
        return Pix2PixObjective(
            build_generator(config.model), build_discriminator(config.model, cfg), cfg, config.training.stage1.lr
        )

    def parts(self, objective: nn.Module) -> dict[str, nn.Module]:
        return {**super().parts(objective), "discriminator": cast(nn.Module, objective.discriminator)}


FAMILIES.add(Pix2Pix3DFamily.name, Pix2Pix3DFamily(), help="one-pass U-Net generator + 3D PatchGAN")
