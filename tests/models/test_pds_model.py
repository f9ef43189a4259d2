"""PDS wrapper: losses, synthesis shapes for both directions, determinism, ablations, config."""

from __future__ import annotations

import pydantic
import pytest
import torch
from pds_testdata import GRIDS, ROI_NETWORK, make_batch, tiny_config

from pds_mri.diffusion import DDIMSampler, NoiseSchedule
from pds_mri.models.config import DiffusionConfig, PDSConfig
from pds_mri.models.factory import build_config_sampler, build_pds, build_schedule
from pds_mri.models.pds import PDS


def _perturb(module: torch.nn.Module, scale: float = 0.05) -> None:
    """Zero-initialised heads make an untrained PDS trivial; nudge every weight to exercise all paths."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g))


@pytest.fixture
def pds() -> PDS:
    torch.manual_seed(0)
    model = build_pds(tiny_config(), ROI_NETWORK)
    _perturb(model)
    return model


@pytest.mark.parametrize("prediction_type", ["eps", "v", "x0"])
def test_stage1_loss_finite_with_gradients(pds: PDS, batch: dict[str, torch.Tensor], prediction_type: str) -> None:
    sch = NoiseSchedule("cosine", 1000, prediction_type)  # type: ignore[arg-type]
    out = pds.stage1_loss(batch, sch, torch.Generator().manual_seed(0))
    assert set(out) == {"loss", "l2", "pattern_l2"}  # L2 is the default stage-1 loss
    assert torch.isfinite(out["loss"])
    out["loss"].backward()
    for name, part in (("denoiser", pds.denoiser), ("pattern", pds.pattern_encoder)):
        grads = [p.grad for p in part.parameters() if p.grad is not None]
        assert grads and all(torch.isfinite(g).all() for g in grads), name
        assert any(g.abs().sum() > 0 for g in grads), name
    assert all(p.grad is None for p in pds.stage_parameters(2))


def test_stage1_loss_is_seeded(pds: PDS, batch: dict[str, torch.Tensor]) -> None:
    sch = NoiseSchedule()
    a = pds.stage1_loss(batch, sch, torch.Generator().manual_seed(3))["loss"]
    b = pds.stage1_loss(batch, sch, torch.Generator().manual_seed(3))["loss"]
    # other seeds draw other timesteps and noise (a readout draw has ε = 0, so two seeds can agree by chance)
    others = {pds.stage1_loss(batch, sch, torch.Generator().manual_seed(s))["loss"].item() for s in range(4, 10)}
    assert a.item() == b.item() and len(others - {a.item()}) >= 1


def test_stage2_loss_trains_only_the_refiners(pds: PDS, batch: dict[str, torch.Tensor]) -> None:
    est = batch["target"] + 0.2 * torch.randn(batch["target"].shape, generator=torch.Generator().manual_seed(0))
    out = pds.stage2_loss(batch, est)
    assert {"loss", "tissue_l1", "tissue_contrast", "micro_l1", "micro_grad", "micro_ssim"} <= set(out)
    out["loss"].backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in pds.stage_parameters(2))
    assert all(p.grad is None for p in pds.stage_parameters(1))


def test_stage2_samples_its_own_stage1_estimate(pds: PDS, batch: dict[str, torch.Tensor]) -> None:
    sampler = DDIMSampler(NoiseSchedule(), clip_x0=1.0)
    out = pds.stage2_loss(batch, sampler=sampler, steps=2, generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(out["loss"])
    with pytest.raises(ValueError, match="stage1_estimate"):
        pds.stage2_loss(batch)


@pytest.mark.parametrize("sampler_name", ["ddim", "dpmpp_2m"])
def test_synthesize_shapes_background_and_uncertainty(
    pds: PDS, batch: dict[str, torch.Tensor], direction: int, sampler_name: str
) -> None:
    dcfg = DiffusionConfig(sampler=sampler_name, eta=1.0 if sampler_name == "ddim" else 0.0)  # type: ignore[arg-type]
    sampler = build_config_sampler(dcfg)
    infer = {k: v for k, v in batch.items() if k != "target"}  # no target at inference
    mean, std = pds.synthesize(infer, sampler, steps=3, samples=3, generator=torch.Generator().manual_seed(0))
    assert mean.shape == std.shape == (2, 1, *GRIDS[direction])
    outside = batch["mask"] == 0
    assert torch.all(mean[outside] == -1) and torch.all(std[outside] == 0)
    assert mean.min() >= -1 and mean.max() <= 1
    assert std[~outside].mean() > 0  # different noise, different samples
    _, std1 = pds.synthesize(infer, sampler, steps=2, samples=1)
    assert torch.count_nonzero(std1) == 0


def test_synthesize_is_deterministic_with_a_generator(pds: PDS, batch: dict[str, torch.Tensor]) -> None:
    sampler = build_config_sampler(DiffusionConfig())

    def run(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        return pds.synthesize(batch, sampler, steps=3, samples=2, generator=torch.Generator().manual_seed(seed))

    a, b, c = run(7), run(7), run(8)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


def test_guidance_costs_a_second_evaluation_only_when_useful(pds: PDS, batch: dict[str, torch.Tensor]) -> None:
    calls = {"n": 0}
    hook = pds.denoiser.register_forward_hook(lambda *_: calls.__setitem__("n", calls["n"] + 1))
    sampler = DDIMSampler(NoiseSchedule(), clip_x0=1.0)
    try:
        pds.synthesize(batch, sampler, steps=2, guidance=1.0)
        assert calls["n"] == 2
        guided = pds.synthesize(batch, sampler, steps=2, guidance=3.0, generator=torch.Generator().manual_seed(0))
        assert calls["n"] == 2 + 4
        unknown = dict(batch, diagnosis=torch.full_like(batch["diagnosis"], -1))
        pds.synthesize(unknown, sampler, steps=2, guidance=3.0)
        assert calls["n"] == 6 + 2  # no known diagnosis: guidance is a no-op, no extra cost
    finally:
        hook.remove()
    plain = pds.synthesize(batch, sampler, steps=2, guidance=1.0, generator=torch.Generator().manual_seed(0))
    assert not torch.equal(guided[0], plain[0])


ABLATIONS = {
    "use_pattern": "pattern_encoder",
    "use_tissue": "tissue_refiner",
    "use_micro": "micro_refiner",
    "attention": "denoiser",
    "use_diagnosis": "conditioning",
}


@pytest.mark.parametrize("flag", sorted(ABLATIONS))
def test_each_ablation_flag_removes_its_component(flag: str) -> None:
    batch = make_batch(GRIDS[1], 1)
    torch.manual_seed(0)
    full = build_pds(tiny_config(), ROI_NETWORK)
    torch.manual_seed(0)
    ablated = build_pds(tiny_config(**{flag: False}), ROI_NETWORK)
    part = ABLATIONS[flag]
    assert ablated.parameter_counts()[part] < full.parameter_counts()[part]
    assert ablated.parameter_counts()["total"] < full.parameter_counts()["total"]
    _perturb(full)
    _perturb(ablated)
    sampler = build_config_sampler(DiffusionConfig())
    a, _ = full.synthesize(batch, sampler, steps=2, generator=torch.Generator().manual_seed(0))
    b, _ = ablated.synthesize(batch, sampler, steps=2, generator=torch.Generator().manual_seed(0))
    assert not torch.allclose(a, b)


def test_no_pattern_also_drops_the_roi_loss(batch: dict[str, torch.Tensor]) -> None:
    ablated = build_pds(tiny_config(use_pattern=False), ROI_NETWORK)
    assert "pattern_l2" not in ablated.stage1_loss(batch, NoiseSchedule())
    no_weight = build_pds(tiny_config(pattern_loss_weight=0.0), ROI_NETWORK)
    assert "pattern_l2" not in no_weight.stage1_loss(batch, NoiseSchedule())
    assert no_weight.pattern_encoder is not None


def test_no_refiners_means_no_stage2(batch: dict[str, torch.Tensor]) -> None:
    pds = build_pds(tiny_config(use_tissue=False, use_micro=False), ROI_NETWORK)
    assert not pds.has_stage2 and list(pds.stage_parameters(2)) == []
    est = torch.zeros_like(batch["target"])
    assert pds.refine(batch, est) is est
    with pytest.raises(ValueError, match="stage 2"):
        pds.stage2_loss(batch, est)


def test_config_validates_and_round_trips() -> None:
    cfg = PDSConfig(use_micro=False, diffusion={"steps": 4, "sampler": "ddim"})
    assert PDSConfig.model_validate(cfg.model_dump(mode="json")) == cfg
    with pytest.raises(pydantic.ValidationError, match="base_chanels"):
        PDSConfig(base_chanels=8)  # type: ignore[call-arg]
    with pytest.raises(pydantic.ValidationError, match="prediction_type"):
        DiffusionConfig(prediction_type="score")  # type: ignore[arg-type]
    sch = build_schedule(cfg.diffusion)
    assert sch.prediction_type == "x0" and sch.timesteps == 1000
    assert isinstance(build_config_sampler(cfg.diffusion, sch), DDIMSampler)


def test_model_runs_on_a_batch_of_one_for_each_direction() -> None:
    pds = build_pds(tiny_config(), ROI_NETWORK)
    sampler = build_config_sampler(DiffusionConfig())
    for d, shape in GRIDS.items():
        b = make_batch(shape, d, batch=1)
        mean, std = pds.synthesize(b, sampler, steps=1)
        assert mean.shape == (1, 1, *shape) == std.shape


def test_forward_dispatches_stage_losses(pds: PDS, batch: dict[str, torch.Tensor]) -> None:
    """DDP calls forward; it must give the same numbers as the stage methods."""
    sch = NoiseSchedule()
    a = pds(batch, sch, torch.Generator().manual_seed(0))["loss"]
    assert a.item() == pds.stage1_loss(batch, sch, torch.Generator().manual_seed(0))["loss"].item()
    est = batch["target"] * 0.5
    assert pds(batch, stage=2, stage1_estimate=est)["loss"].item() == pds.stage2_loss(batch, est)["loss"].item()
    with pytest.raises(ValueError, match="schedule"):
        pds(batch)


def test_state_dict_round_trips_through_safetensors(pds: PDS, batch: dict[str, torch.Tensor]) -> None:
    from safetensors.torch import load, save

    state = load(save(pds.state_dict()))
    assert "pattern_encoder.label_to_network" in state  # the ROI -> network map travels with the weights
    fresh = build_pds(tiny_config(), ROI_NETWORK)
    fresh.load_state_dict(state)
    sampler = build_config_sampler(DiffusionConfig())
    a, _ = pds.synthesize(batch, sampler, steps=2, generator=torch.Generator().manual_seed(0))
    b, _ = fresh.synthesize(batch, sampler, steps=2, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b)


def test_stage1_loss_is_configurable(batch: dict[str, torch.Tensor]) -> None:
    sch = NoiseSchedule("cosine", 1000, "x0")
    losses = {}
    for name in ("l1", "l2"):
        torch.manual_seed(0)
        model = build_pds(tiny_config(stage1_loss=name), ROI_NETWORK)
        out = model.stage1_loss(batch, sch, torch.Generator().manual_seed(0))
        assert set(out) == {"loss", name, f"pattern_{name}"}
        losses[name] = float(out[name])
    assert losses["l1"] != pytest.approx(losses["l2"])


def test_mean_mode_is_one_evaluation_at_the_last_timestep(pds: PDS, batch: dict[str, torch.Tensor]) -> None:
    """`mode="mean"` is the refined x0 readout at t = T-1: one denoiser call, whatever `steps` says."""
    sampler = build_config_sampler(DiffusionConfig())
    seen: list[int] = []
    original = pds.denoiser.forward

    def counting(x_t: torch.Tensor, source: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        seen.append(1)
        return original(x_t, source, cond)

    pds.denoiser.forward = counting  # type: ignore[method-assign]
    try:
        mean, std = pds.synthesize(batch, sampler, steps=8, mode="mean", generator=torch.Generator().manual_seed(0))
        assert len(seen) == 1
        assert torch.all(std == 0)
        seen.clear()
        _, std4 = pds.synthesize(
            batch, sampler, steps=2, samples=3, mode="mean", generator=torch.Generator().manual_seed(0)
        )
        assert len(seen) == 1 + 3 * 2  # the readout, then three 2-step samples for the std
        assert std4[batch["mask"] > 0].abs().sum() > 0
    finally:
        del pds.denoiser.forward
    # the default readout input is x_T = 0 (E[x_T]): seed-independent
    readout = sampler.sample(pds.model_fn(batch, sampler.schedule), torch.zeros_like(batch["source"]), 1)
    expected = pds.refine(batch, readout).clamp(-1, 1)
    inside = batch["mask"] > 0
    assert torch.allclose(mean[inside], expected[inside])
    pds.readout_input = "noise"  # the diffusion's own t = T-1 input: one draw of x_T
    noisy, _ = pds.synthesize(batch, sampler, steps=8, mode="mean", generator=torch.Generator().manual_seed(0))
    drawn = pds.refine(batch, pds.sample_stage1(batch, sampler, 1, generator=torch.Generator().manual_seed(0)))
    assert torch.allclose(noisy[inside], drawn.clamp(-1, 1)[inside])
    with pytest.raises(ValueError, match="mode"):
        pds.synthesize(batch, sampler, steps=2, mode="median")


def test_stage2_trains_on_the_estimate_of_the_synthesis_mode(pds: PDS, batch: dict[str, torch.Tensor]) -> None:
    sampler = build_config_sampler(DiffusionConfig())
    g = torch.Generator().manual_seed(0)
    by_mode = pds.stage2_loss(batch, sampler=sampler, steps=4, mode="mean", generator=g)["loss"]
    readout = sampler.sample(pds.model_fn(batch, sampler.schedule), torch.zeros_like(batch["source"]), 1)
    explicit = pds.stage2_loss(batch, readout)["loss"]
    assert torch.allclose(by_mode, explicit)


def test_readout_draws_train_on_a_zero_input(pds: PDS, batch: dict[str, torch.Tensor]) -> None:
    """With readout_input "zero", a terminal-weight draw's x_t is sqrt(alpha_bar) * x0 (eps = 0), others are noisy."""
    from pds_mri.diffusion.training_timesteps import TrainingTimesteps

    sch = NoiseSchedule()
    seen: list[torch.Tensor] = []
    original = pds.denoiser.forward

    def spy(x_t: torch.Tensor, source: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        seen.append(x_t.detach().clone())
        return original(x_t, source, cond)

    pds.denoiser.forward = spy  # type: ignore[method-assign]
    try:
        pds.training_timesteps = TrainingTimesteps(sch, "sampler", terminal_weight=1.0)
        pds.stage1_loss(batch, sch, torch.Generator().manual_seed(0))
        alpha = sch.alpha_bar(999, batch["target"]).sqrt()
        assert torch.allclose(seen[-1], alpha * batch["target"])
        pds.training_timesteps = TrainingTimesteps(sch, "sampler", terminal_weight=0.0)
        pds.stage1_loss(batch, sch, torch.Generator().manual_seed(0))
        assert seen[-1].std() > 0.5  # noise: no readout draws
    finally:
        del pds.denoiser.forward
