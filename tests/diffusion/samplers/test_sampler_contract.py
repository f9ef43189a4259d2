"""The contract every registered sampler keeps (diffusers' SchedulerCommonTest idea): a new file in
`diffusion/samplers/` is checked here without being named."""

from __future__ import annotations

import pytest
import torch

from pds_mri.diffusion import SAMPLERS, NoiseSchedule, build_sampler, guided

NAMES = SAMPLERS.names()
SHAPE = (2, 1, 4, 5, 3)


def _schedule(prediction_type: str = "eps") -> NoiseSchedule:
    return NoiseSchedule("cosine", 100, prediction_type)  # type: ignore[arg-type]


def _model(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """A smooth stand-in network: depends on x_t and t, as a denoiser does."""
    return 0.3 * x + 0.01 * t.to(x.dtype).view(-1, *([1] * (x.dim() - 1)))


def _noise(seed: int = 0) -> torch.Tensor:
    return torch.randn(SHAPE, generator=torch.Generator().manual_seed(seed))


def test_every_sampler_is_registered_under_its_name_with_help() -> None:
    assert {"ddim", "dpmpp_2m"} <= set(NAMES)
    for name in NAMES:
        sampler = build_sampler(name, _schedule(), eta=0.5, spacing="leading", clip_x0=2.0)
        assert type(sampler) is SAMPLERS.get(name) and SAMPLERS.help(name)
        assert (sampler.eta, sampler.spacing, sampler.clip_x0) == (0.5, "leading", 2.0)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("steps", [1, 2, 7])
@pytest.mark.parametrize("spacing", ["trailing", "leading"])
def test_output_has_the_input_shape_and_is_finite(name: str, steps: int, spacing: str) -> None:
    sampler = build_sampler(name, _schedule(), spacing=spacing)  # type: ignore[arg-type]
    out = sampler.sample(_model, _noise(), steps)
    assert out.shape == SHAPE and out.dtype == torch.float32 and torch.isfinite(out).all()


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("steps", [1, 5])
def test_the_network_sees_exactly_the_step_grid(name: str, steps: int) -> None:
    """`steps` is honoured: every evaluation is at a grid timestep, every grid timestep is evaluated."""
    sampler = build_sampler(name, _schedule())
    seen: list[int] = []

    def model(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        assert t.shape == (x.shape[0],) and t.dtype == torch.long and (t == t[0]).all()
        seen.append(int(t[0]))
        return _model(x, t)

    sampler.sample(model, _noise(), steps)
    grid = sampler.timesteps(steps)
    assert len(grid) == steps and set(seen) == set(grid)
    assert seen == sorted(seen, reverse=True)  # from noise towards the clean end


@pytest.mark.parametrize("name", NAMES)
def test_a_fixed_seed_gives_the_same_sample_and_eta_is_honest(name: str) -> None:
    """Deterministic for a seed; a stochastic sampler's noise follows the generator, and a sampler that
    declares itself deterministic ignores eta."""
    sampler = build_sampler(name, _schedule(), eta=1.0)

    def run(seed: int) -> torch.Tensor:
        return sampler.sample(_model, _noise(), 4, generator=torch.Generator().manual_seed(seed))

    torch.testing.assert_close(run(3), run(3), rtol=0, atol=0)
    if sampler.stochastic:
        assert not torch.equal(run(3), run(4))
    else:
        torch.testing.assert_close(run(3), run(4), rtol=0, atol=0)
        torch.testing.assert_close(run(3), build_sampler(name, _schedule()).sample(_model, _noise(), 4))
    with pytest.raises(ValueError, match="eta"):
        build_sampler(name, _schedule(), eta=-0.1)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("steps", [1, 6])
def test_it_ends_on_the_clean_end(name: str, steps: int) -> None:
    """The output is the last x0 prediction: an oracle that always predicts x0 gets x0 back, clipped to clip_x0."""
    x0 = torch.linspace(-0.9, 0.9, 120).reshape(SHAPE)
    oracle = build_sampler(name, _schedule("x0"), eta=1.0)
    out = oracle.sample(lambda x, t: x0, _noise(), steps, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(out, x0, rtol=1e-5, atol=1e-5)
    clipped = build_sampler(name, _schedule("x0"), clip_x0=0.5).sample(lambda x, t: 4 * x0, _noise(), steps)
    assert clipped.abs().max() <= 0.5 + 1e-6


@pytest.mark.parametrize("name", NAMES)
def test_classifier_free_guidance_drives_every_sampler(name: str) -> None:
    sampler = build_sampler(name, _schedule())

    def uncond(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return 0.1 * x

    plain = sampler.sample(_model, _noise(), 3)
    torch.testing.assert_close(sampler.sample(guided(_model, uncond, 1.0), _noise(), 3), plain, rtol=0, atol=0)
    strong = sampler.sample(guided(_model, uncond, 3.0), _noise(), 3)
    assert strong.shape == SHAPE and torch.isfinite(strong).all() and not torch.equal(strong, plain)
