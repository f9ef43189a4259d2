"""Samplers that turn a denoiser into a generator, one per file, registered by name in :data:`SAMPLERS`.

A new sampler is one file here: a :class:`Sampler` subclass under ``@SAMPLERS.register("name", help=...)``.
The package imports every module in it, so the config (``model.diffusion.sampler``), :func:`build_sampler`
and the contract test (``tests/diffusion/samplers/``) know it at once. See ``base.py`` for the timestep
spacing and the shared plumbing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pds_mri.diffusion.samplers._guidance import guided
from pds_mri.diffusion.samplers.base import SAMPLERS, ModelFn, Sampler, Spacing, make_timesteps
from pds_mri.diffusion.samplers.ddim import DDIMSampler
from pds_mri.diffusion.samplers.dpmpp_2m import DPMSolverPP2M
from pds_mri.registry import import_members

if TYPE_CHECKING:
    from pds_mri.diffusion.schedule import NoiseSchedule

import_members(__name__, __path__)


def build_sampler(
    name: str,
    schedule: NoiseSchedule,
    eta: float = 0.0,
    spacing: Spacing = "trailing",
    clip_x0: float | None = None,
) -> Sampler:
    """The registered sampler `name` on `schedule` (an unknown name lists the members)."""
    return SAMPLERS.get(name)(schedule, eta=eta, spacing=spacing, clip_x0=clip_x0)


__all__ = [
    "SAMPLERS",
    "DDIMSampler",
    "DPMSolverPP2M",
    "ModelFn",
    "Sampler",
    "Spacing",
    "build_sampler",
    "guided",
    "make_timesteps",
]
