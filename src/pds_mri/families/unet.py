"""The ``unet`` family: a 3D U-Net regression (the PDS denoiser architecture, one pass), masked L1 or L2."""

from __future__ import annotations

from torch import nn

from pds_mri.config import Config
from pds_mri.families.base import FAMILIES
from pds_mri.families.one_pass import OnePassFamily, baseline_config
from pds_mri.families.spec import ModelSpec
from pds_mri.models.baselines.factory import build_generator
from pds_mri.models.baselines.unet import RegressionObjective


class UNetFamily(OnePassFamily):
    name = "unet"
    specs = (
        ModelSpec(
            "unet",
            "unet",
            "3D U-Net regression, masked L1 or L2 (PDS denoiser architecture, one pass)",
            benchmark_default=True,
        ),
    )

    def build_objective(self, config: Config) -> nn.Module:
        return RegressionObjective(build_generator(config.model), baseline_config(config).loss)


FAMILIES.add(UNetFamily.name, UNetFamily(), help="one-pass 3D U-Net regression")
