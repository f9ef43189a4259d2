"""Noise schedules and samplers, kept apart from the networks (diffusers/MONAI style)."""

from pds_mri.diffusion.samplers import (
    DDIMSampler,
    DPMSolverPP2M,
    ModelFn,
    Sampler,
    build_sampler,
    guided,
    make_timesteps,
)
from pds_mri.diffusion.schedule import NoiseSchedule, PredictionType

__all__ = [
    "DDIMSampler",
    "DPMSolverPP2M",
    "ModelFn",
    "NoiseSchedule",
    "PredictionType",
    "Sampler",
    "build_sampler",
    "guided",
    "make_timesteps",
]
