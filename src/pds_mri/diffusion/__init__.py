"""Noise schedules and samplers, kept apart from the networks (diffusers/MONAI style).

The schedule (torch) is loaded on first use, so importing the sampler registry, as the config does to check
``model.diffusion.sampler``, loads no torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pds_mri.diffusion.samplers import (
    SAMPLERS,
    DDIMSampler,
    DPMSolverPP2M,
    ModelFn,
    Sampler,
    build_sampler,
    guided,
    make_timesteps,
)

if TYPE_CHECKING:
    from pds_mri.diffusion.schedule import NoiseSchedule, PredictionType

_FROM_SCHEDULE = ("NoiseSchedule", "PredictionType")


def __getattr__(name: str) -> Any:
    if name in _FROM_SCHEDULE:
        from pds_mri.diffusion import schedule

        return getattr(schedule, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "SAMPLERS",
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
