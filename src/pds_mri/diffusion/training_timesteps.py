"""Which timesteps stage 1 is trained on: uniform over all T, or only those the sampler will visit.

Why: PDS synthesises in one to eight denoiser evaluations, at fixed timesteps (``make_timesteps``), yet a
uniform draw over T = 1000 spends almost every optimiser step on noise levels that synthesis never sees.
Fast-DDPM (Jiang et al., IEEE JBHI 2025) trains and samples on the same ≤ 10 steps. ``terminal_weight``
additionally puts that share of the draws on t = T − 1, the readout of the default ``mean`` synthesis mode:
with x0-prediction, the prediction from pure noise there is a regression estimate of E[target | source]
(YODA's "regression sampling", Rassmann et al., IEEE TMI 2025), and it is trained with as many steps as a
plain regression network would get at ``terminal_weight = 1``.

``kind="uniform"`` with ``terminal_weight=0`` draws exactly what :meth:`NoiseSchedule.sample_timesteps`
draws (same generator calls), so configurations written before this option existed train identically.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from pds_mri.diffusion.samplers import Spacing, make_timesteps
from pds_mri.diffusion.schedule import NoiseSchedule
from pds_mri.training.sample_rng import Rng, rand, randint, rng_device

TimestepKind = Literal["uniform", "sampler"]
TIMESTEP_KINDS: tuple[str, ...] = ("uniform", "sampler")


class TrainingTimesteps:
    """Draws (B,) long training timesteps; device-independent for a seeded generator."""

    def __init__(
        self,
        schedule: NoiseSchedule,
        kind: TimestepKind = "uniform",
        steps: int = 8,
        spacing: Spacing = "trailing",
        terminal_weight: float = 0.0,
    ) -> None:
        if kind not in TIMESTEP_KINDS:
            raise ValueError(f"kind must be one of {TIMESTEP_KINDS}, got {kind!r}")
        if not 0.0 <= terminal_weight <= 1.0:
            raise ValueError(f"terminal_weight must be in [0, 1], got {terminal_weight}")
        self.schedule = schedule
        self.kind: TimestepKind = kind
        self.terminal_weight = float(terminal_weight)
        self.grid = torch.tensor(make_timesteps(schedule.timesteps, steps, spacing), dtype=torch.long)

    def __repr__(self) -> str:
        return f"TrainingTimesteps(kind={self.kind!r}, grid={self.grid.tolist()}, terminal={self.terminal_weight})"

    def __call__(self, batch: int, generator: Rng = None, device: torch.device | str = "cpu") -> Tensor:
        return self.draw(batch, generator, device)[0]

    def draw(self, batch: int, generator: Rng = None, device: torch.device | str = "cpu") -> tuple[Tensor, Tensor]:
        """(t, readout): the timesteps and which of them are ``terminal_weight`` draws (the mean readout)."""
        if self.kind == "uniform" and self.terminal_weight == 0.0:
            t = self.schedule.sample_timesteps(batch, generator, device)
            return t, torch.zeros_like(t, dtype=torch.bool)
        gdev = rng_device(generator, "cpu")
        if self.kind == "uniform":
            t = randint(0, self.schedule.timesteps, (batch,), generator, gdev)
        else:
            pick = randint(0, len(self.grid), (batch,), generator, gdev)
            t = self.grid.to(gdev)[pick]
        terminal = torch.zeros_like(t, dtype=torch.bool)
        if self.terminal_weight > 0.0:
            terminal = rand((batch,), generator, gdev) < self.terminal_weight
            t = torch.where(terminal, torch.full_like(t, self.schedule.timesteps - 1), t)
        return t.to(device), terminal.to(device)
