"""Training timesteps: uniform reproduces the schedule's draws; sampler-aligned stays on the sampler's grid."""

from __future__ import annotations

import pytest
import torch

from pds_mri.diffusion import NoiseSchedule
from pds_mri.diffusion.samplers import make_timesteps
from pds_mri.diffusion.training_timesteps import TrainingTimesteps


def test_uniform_without_terminal_weight_draws_exactly_what_the_schedule_draws() -> None:
    sch = NoiseSchedule()
    a = TrainingTimesteps(sch, "uniform")(64, torch.Generator().manual_seed(5))
    b = sch.sample_timesteps(64, torch.Generator().manual_seed(5))
    assert torch.equal(a, b)


def test_sampler_aligned_draws_only_the_sampler_grid() -> None:
    sch = NoiseSchedule(timesteps=1000)
    draws = TrainingTimesteps(sch, "sampler", steps=8, spacing="trailing")(4000, torch.Generator().manual_seed(0))
    grid = set(make_timesteps(1000, 8, "trailing"))
    assert set(draws.tolist()) == grid  # every grid step is drawn, nothing else
    counts = torch.bincount(draws, minlength=1000)[sorted(grid)].float()
    assert counts.min() > 0.8 * counts.mean()  # roughly uniform over the grid


@pytest.mark.parametrize("kind", ["uniform", "sampler"])
def test_terminal_weight_is_the_share_of_the_last_timestep(kind: str) -> None:
    sch = NoiseSchedule(timesteps=1000)
    draws = TrainingTimesteps(sch, kind, steps=8, terminal_weight=0.5)(20000, torch.Generator().manual_seed(1))  # type: ignore[arg-type]
    share = (draws == 999).float().mean().item()
    # sampler grid: 0.5 + 0.5 * 1/8 of the draws are T-1; uniform: 0.5 + 0.5/1000
    expected = 0.5 + 0.5 * (1 / 8 if kind == "sampler" else 1 / 1000)
    assert abs(share - expected) < 0.015
    ones = TrainingTimesteps(sch, kind, terminal_weight=1.0)(50, torch.Generator().manual_seed(1))  # type: ignore[arg-type]
    assert torch.all(ones == 999)


def test_seeded_and_validated() -> None:
    sch = NoiseSchedule()
    ts = TrainingTimesteps(sch, "sampler", terminal_weight=0.3)
    assert torch.equal(ts(16, torch.Generator().manual_seed(2)), ts(16, torch.Generator().manual_seed(2)))
    with pytest.raises(ValueError, match="kind"):
        TrainingTimesteps(sch, "lognormal")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="terminal_weight"):
        TrainingTimesteps(sch, terminal_weight=1.5)
