"""Build the baselines' networks from the typed config (``baselines/config.py`` stays torch-free)."""

from __future__ import annotations

from pds_mri.models.baselines.config import BaselineConfig
from pds_mri.models.baselines.patchgan import PatchDiscriminator3D
from pds_mri.models.baselines.unet import RegressionUNet3D
from pds_mri.models.config import PDSConfig, denoiser_options


def build_generator(cfg: PDSConfig) -> RegressionUNet3D:
    """The PDS stage-1 denoiser architecture used as a one-pass source → target regressor."""
    return RegressionUNet3D(cfg.emb_dim, **denoiser_options(cfg))


def build_discriminator(cfg: PDSConfig, baseline: BaselineConfig) -> PatchDiscriminator3D:
    return PatchDiscriminator3D(
        channels=baseline.disc_channels or cfg.base_channels,
        layers=baseline.disc_layers,
        max_mult=baseline.disc_max_mult,
    )
