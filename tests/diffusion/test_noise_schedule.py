"""NoiseSchedule: MONAI-identical tables, exact parametrisation round trips, clear errors."""

from __future__ import annotations

import pytest
import torch
from monai.networks.schedulers import DDPMScheduler

from pds_mri.diffusion import NoiseSchedule


@pytest.mark.parametrize(("ours", "monai_name"), [("cosine", "cosine"), ("linear", "linear_beta")])
def test_alphas_cumprod_match_monai(ours: str, monai_name: str) -> None:
    sch = NoiseSchedule(ours, 1000)
    ref = DDPMScheduler(num_train_timesteps=1000, schedule=monai_name).alphas_cumprod.double()
    torch.testing.assert_close(sch.alphas_cumprod, ref, rtol=1e-5, atol=1e-7)
    assert torch.all(sch.alphas_cumprod[1:] < sch.alphas_cumprod[:-1])  # strictly more noise with t


@pytest.mark.parametrize("prediction_type", ["eps", "v", "x0"])
def test_target_and_conversion_round_trip(prediction_type: str) -> None:
    sch = NoiseSchedule("cosine", 1000, prediction_type)
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand(4, 1, 5, 4, 3, generator=g, dtype=torch.float64) * 2 - 1
    noise = torch.randn(x0.shape, generator=g, dtype=torch.float64)
    t = torch.tensor([0, 10, 500, 998])
    x_t = sch.add_noise(x0, noise, t)
    target = sch.target(x0, noise, t)
    x0_hat, eps_hat = sch.predict_x0_eps(target, x_t, t)
    torch.testing.assert_close(x0_hat, x0, rtol=0, atol=1e-8)
    torch.testing.assert_close(eps_hat, noise, rtol=0, atol=1e-8)
    torch.testing.assert_close(sch.output_from_x0(x0, x_t, t), target, rtol=0, atol=1e-8)


def test_v_matches_monai_velocity() -> None:
    sch = NoiseSchedule("linear", 1000, "v")
    ref = DDPMScheduler(num_train_timesteps=1000, schedule="linear_beta")
    x0, noise = torch.randn(3, 1, 4, 4, 4), torch.randn(3, 1, 4, 4, 4)
    t = torch.tensor([3, 400, 999])
    torch.testing.assert_close(sch.target(x0, noise, t), ref.get_velocity(x0, noise, t), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(sch.add_noise(x0, noise, t), ref.add_noise(x0, noise, t), rtol=1e-4, atol=1e-5)


def test_sample_timesteps_seeded_and_in_range() -> None:
    sch = NoiseSchedule()
    a = sch.sample_timesteps(64, torch.Generator().manual_seed(3))
    b = sch.sample_timesteps(64, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and a.min() >= 0 and a.max() < 1000


def test_bad_arguments_are_rejected() -> None:
    with pytest.raises(ValueError, match="schedule"):
        NoiseSchedule("sigmoid")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="prediction_type"):
        NoiseSchedule(prediction_type="score")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="out of range"):
        NoiseSchedule(timesteps=10).alpha_bar(10, torch.zeros(1))


def test_alpha_bar_is_looked_up_from_a_table_kept_on_the_device() -> None:
    """Same values as indexing the float64 table and casting, t < 0 is the clean end, one table per device."""
    schedule = NoiseSchedule(timesteps=10)
    like = torch.zeros(3, 1, 2, 2, 2, dtype=torch.float32)
    t = torch.tensor([0, 9, -1])
    ab = schedule.alpha_bar(t, like)
    assert ab.shape == (3, 1, 1, 1, 1) and ab.dtype == torch.float32
    expected = torch.stack(
        [schedule.alphas_cumprod[0], schedule.alphas_cumprod[9], torch.tensor(1.0, dtype=torch.float64)]
    )
    assert torch.equal(ab.flatten(), expected.float())
    table = schedule._table(like.device)
    schedule.alpha_bar(5, like)
    assert schedule._table(like.device) is table and table.dtype == torch.float64
