"""PDS networks: denoiser, pattern encoder, conditioning, refiners, losses and the PDS wrapper."""

from pds_mri.models.conditioning import Conditioning, timestep_embedding
from pds_mri.models.config import (
    DiffusionConfig,
    PDSConfig,
    build_config_sampler,
    build_pds,
    build_schedule,
)
from pds_mri.models.denoiser import ConditionalDenoiser3D, parameter_count
from pds_mri.models.micro_refiner import MicrostructureRefiner
from pds_mri.models.pattern_encoder import PatternEncoder
from pds_mri.models.pds import PDS, Batch
from pds_mri.models.tissue_refiner import TissueRefiner

__all__ = [
    "PDS",
    "Batch",
    "ConditionalDenoiser3D",
    "Conditioning",
    "DiffusionConfig",
    "MicrostructureRefiner",
    "PDSConfig",
    "PatternEncoder",
    "TissueRefiner",
    "build_config_sampler",
    "build_pds",
    "build_schedule",
    "parameter_count",
    "timestep_embedding",
]
