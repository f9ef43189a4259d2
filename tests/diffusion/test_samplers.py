"""DDIM and DPM-Solver++(2M): MONAI agreement, oracle exactness, solver order, seeding, guidance."""

from __future__ import annotations

import pytest
import torch
from monai.networks.schedulers import DDIMScheduler

from pds_mri.diffusion import DDIMSampler, DPMSolverPP2M, NoiseSchedule, build_sampler, guided, make_timesteps

MONAI_SCHEDULE = {"cosine": "cosine", "linear": "linear_beta"}


@pytest.mark.parametrize("schedule", ["cosine", "linear"])
@pytest.mark.parametrize(("ours", "theirs"), [("eps", "epsilon"), ("v", "v_prediction"), ("x0", "sample")])
def test_ddim_step_matches_monai(schedule: str, ours: str, theirs: str) -> None:
    """Same (t, t_prev) pairs as MONAI's scheduler visits: MONAI steps by floor(T/n) from its own grid."""
    steps, T = 10, 1000
    ref = DDIMScheduler(
        num_train_timesteps=T,
        schedule=MONAI_SCHEDULE[schedule],
        clip_sample=False,
        set_alpha_to_one=True,
        prediction_type=theirs,
    )
    ref.set_timesteps(steps)
    sampler = DDIMSampler(NoiseSchedule(schedule, T, ours), eta=0.0)  # type: ignore[arg-type]
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 1, 6, 5, 4, generator=g)
    for t in ref.timesteps.tolist():
        out = torch.randn(x.shape, generator=g)
        expected, expected_x0 = ref.step(out, t, x)
        tt = torch.full((2,), t, dtype=torch.long)
        x0, eps = sampler.schedule.predict_x0_eps(out, x, tt)
        got = sampler.step(x0, eps, x, t, t - T // steps)
        torch.testing.assert_close(x0, expected_x0, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
        x = expected


def _reference_ddim(schedule: NoiseSchedule, model_fn, x: torch.Tensor, timesteps: list[int]) -> torch.Tensor:
    """Hand-written eq. 12 of the DDIM paper (eta = 0, ε-prediction), ending at ᾱ = 1."""
    ab = schedule.alphas_cumprod
    for i, t in enumerate(timesteps):
        eps = model_fn(x, torch.full((x.shape[0],), t))
        a_t = ab[t]
        a_prev = ab[timesteps[i + 1]] if i + 1 < len(timesteps) else torch.tensor(1.0, dtype=torch.float64)
        x0 = (x - (1 - a_t).sqrt() * eps) / a_t.sqrt()
        x = a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps
    return x


@pytest.mark.parametrize("spacing", ["trailing", "leading"])
def test_ddim_trajectory_matches_hand_written_reference(spacing: str) -> None:
    sch = NoiseSchedule("linear", 1000, "eps")
    weight = torch.linspace(0.5, 1.5, 5, dtype=torch.float64).reshape(1, 1, 5, 1, 1)

    def model_fn(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:  # smooth, t-dependent, not an oracle
        return torch.tanh(weight * x) * (t.double() / 1000).reshape(-1, 1, 1, 1, 1) + 0.1

    x = torch.randn(2, 1, 5, 4, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    ts = make_timesteps(1000, 7, spacing)  # type: ignore[arg-type]
    got = DDIMSampler(sch, spacing=spacing).sample(model_fn, x, 7)  # type: ignore[arg-type]
    torch.testing.assert_close(got, _reference_ddim(sch, model_fn, x, ts), rtol=1e-10, atol=1e-10)


def test_timestep_spacings() -> None:
    assert make_timesteps(1000, 10, "trailing") == list(range(999, 0, -100))
    assert make_timesteps(1000, 10, "leading") == list(range(900, -1, -100))
    assert make_timesteps(1000, 1000, "trailing") == list(range(999, -1, -1))
    assert make_timesteps(1000, 1, "trailing") == [999]
    assert len(set(make_timesteps(1000, 3, "trailing"))) == 3
    with pytest.raises(ValueError, match="steps"):
        make_timesteps(1000, 0)


def _oracle(schedule: NoiseSchedule, x0: torch.Tensor):
    def model_fn(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        alpha, sigma = schedule.alpha_sigma(t, x)
        eps = (x - alpha * x0) / sigma
        return schedule.output_from_x0(x0, x, t) if schedule.prediction_type != "eps" else eps

    return model_fn


@pytest.mark.parametrize("prediction_type", ["eps", "v", "x0"])
@pytest.mark.parametrize(
    ("name", "eta", "spacing"),
    [("ddim", 0.0, "trailing"), ("ddim", 0.0, "leading"), ("ddim", 1.0, "trailing"), ("dpmpp_2m", 0.0, "trailing")],
)
@pytest.mark.parametrize("steps", [1, 2, 5, 25])
def test_oracle_model_recovers_x0_exactly(
    prediction_type: str, name: str, eta: float, spacing: str, steps: int
) -> None:
    sch = NoiseSchedule("cosine", 1000, prediction_type)  # type: ignore[arg-type]
    g = torch.Generator().manual_seed(1)
    x0 = torch.rand(2, 1, 6, 5, 4, generator=g, dtype=torch.float64) * 2 - 1
    x_T = torch.randn(x0.shape, generator=g, dtype=torch.float64)
    sampler = build_sampler(name, sch, eta=eta, spacing=spacing)  # type: ignore[arg-type]
    out = sampler.sample(_oracle(sch, x0), x_T, steps, torch.Generator().manual_seed(2))
    torch.testing.assert_close(out, x0, rtol=0, atol=1e-9)


def test_dpm_solver_is_higher_order_than_ddim() -> None:
    """Gaussian data N(0, s²): the exact denoiser is linear and the probability-flow ODE has a closed form."""
    sch = NoiseSchedule("cosine", 1000, "eps")
    s = 0.5

    def model_fn(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        alpha, sigma = sch.alpha_sigma(t, x)
        x0 = alpha * s**2 * x / (alpha**2 * s**2 + sigma**2)
        return (x - alpha * x0) / sigma

    x_T = torch.randn(2000, 1, 1, 1, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    alpha_T, sigma_T = sch.alpha_sigma(999, x_T)
    exact = s * x_T / (alpha_T**2 * s**2 + sigma_T**2).sqrt()
    for steps, factor in [(10, 0.5), (20, 0.1)]:
        err_ddim = (DDIMSampler(sch).sample(model_fn, x_T, steps) - exact).abs().max()
        err_dpm = (DPMSolverPP2M(sch).sample(model_fn, x_T, steps) - exact).abs().max()
        assert err_dpm < factor * err_ddim


@pytest.mark.parametrize(("name", "eta"), [("ddim", 1.0), ("dpmpp_2m", 0.0)])
def test_sampling_is_deterministic_given_a_seed(name: str, eta: float) -> None:
    sch = NoiseSchedule("cosine", 1000, "v")
    sampler = build_sampler(name, sch, eta=eta, clip_x0=1.0)  # type: ignore[arg-type]

    def model_fn(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return 0.3 * x + 0.1

    def run(seed: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        return sampler.sample(model_fn, sampler.initial_noise((1, 1, 4, 4, 4), g), 6, g)

    assert torch.equal(run(0), run(0))
    assert not torch.equal(run(0), run(1))


def test_guidance_wrapper() -> None:
    calls = {"cond": 0, "uncond": 0}

    def cond(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        calls["cond"] += 1
        return x + 1.0

    def uncond(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        calls["uncond"] += 1
        return x

    assert guided(cond, uncond, 1.0) is cond  # scale 1: no second evaluation at all
    x, t = torch.zeros(2), torch.zeros(2, dtype=torch.long)
    torch.testing.assert_close(guided(cond, uncond, 3.0)(x, t), torch.full((2,), 3.0))
    torch.testing.assert_close(guided(cond, uncond, 0.0)(x, t), torch.zeros(2))
    assert calls == {"cond": 2, "uncond": 2}


def test_bad_sampler_arguments() -> None:
    sch = NoiseSchedule()
    with pytest.raises(ValueError, match="sampler"):
        build_sampler("euler", sch)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="spacing"):
        DDIMSampler(sch, spacing="linspace")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="eta"):
        DDIMSampler(sch, eta=-1.0)
