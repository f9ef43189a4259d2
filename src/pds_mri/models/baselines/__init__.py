"""Baselines of docs/evaluation.md, built from the PDS denoiser's blocks so that parameter counts match.

* ``unet``: :class:`RegressionUNet3D` trained by :class:`RegressionObjective` (masked L1, one pass).
* ``pix2pix3d``: the same generator + :class:`PatchDiscriminator3D`, trained by :class:`Pix2PixObjective`.
* ``ddpm`` needs no code here: it is PDS with every PDS component off (see ``pds_mri.workflows.run``).
"""

from pds_mri.models.baselines.buffer_adam import BufferAdam
from pds_mri.models.baselines.config import BaselineConfig, build_discriminator, build_generator
from pds_mri.models.baselines.patchgan import PatchDiscriminator3D
from pds_mri.models.baselines.pix2pix import Pix2PixObjective
from pds_mri.models.baselines.unet import RegressionObjective, RegressionUNet3D

__all__ = [
    "BaselineConfig",
    "BufferAdam",
    "PatchDiscriminator3D",
    "Pix2PixObjective",
    "RegressionObjective",
    "RegressionUNet3D",
    "build_discriminator",
    "build_generator",
]
