"""Baseline networks: shapes, parameter counts vs the PDS denoiser, pix2pix G/D updates and exact resume."""

from __future__ import annotations

import hashlib

import pytest
import torch
from pds_testdata import GRIDS, ROI_NETWORK, make_batch, tiny_config

from pds_mri.models.baselines.buffer_adam import BufferAdam
from pds_mri.models.baselines.config import BaselineConfig
from pds_mri.models.baselines.factory import build_discriminator, build_generator
from pds_mri.models.baselines.pix2pix import Pix2PixObjective
from pds_mri.models.baselines.unet import RegressionObjective
from pds_mri.models.factory import build_pds
from pds_mri.training.config import TrainerConfig
from pds_mri.training.trainer import Trainer


def _pair(seed: int = 0) -> dict[str, dict[str, torch.Tensor]]:
    return {"fmri2dmri": make_batch(GRIDS[0], 0, batch=1, seed=seed), "dmri2fmri": make_batch(GRIDS[1], 1, seed=seed)}


def test_generator_shapes_and_parameter_count_match_the_pds_denoiser(batch: dict[str, torch.Tensor]) -> None:
    cfg = tiny_config()
    pds = build_pds(cfg, ROI_NETWORK)
    gen = build_generator(cfg)
    denoiser = pds.parameter_counts()["denoiser"]
    assert abs(gen.num_parameters() - denoiser) / denoiser < 0.05  # same architecture + a direction embedding
    stage1 = sum(p.numel() for p in pds.stage_parameters(1))
    assert abs(gen.num_parameters() - stage1) / stage1 < 0.2
    out = gen(batch)
    assert out.shape == batch["target"].shape
    mean, std = gen.eval().synthesize(batch)
    assert mean.shape == batch["target"].shape and float(std.abs().max()) == 0.0
    assert mean.min() >= -1 and mean.max() <= 1 and bool((mean[batch["mask"] == 0] == -1).all())
    disc = build_discriminator(cfg, BaselineConfig())
    logits = disc(batch["source"], batch["target"])
    assert logits.shape[:2] == (batch["source"].shape[0], 1) and logits.numel() > 1  # patches, not one score


def test_regression_objective_trains_both_directions() -> None:
    torch.manual_seed(0)
    objective = RegressionObjective(build_generator(tiny_config()))
    opt = torch.optim.Adam(objective.parameters(), lr=3e-3)
    pair = _pair()
    first = float(objective(pair)["loss"].detach())
    for _ in range(15):
        opt.zero_grad()
        objective(pair)["loss"].backward()
        opt.step()
    assert float(objective(pair)["loss"].detach()) < 0.7 * first


def test_pix2pix_step_updates_d_itself_and_g_loss_reaches_only_g() -> None:
    torch.manual_seed(0)
    cfg = tiny_config()
    objective = Pix2PixObjective(
        build_generator(cfg), build_discriminator(cfg, BaselineConfig()), BaselineConfig(), 1e-3
    )
    assert not any(p.requires_grad for p in objective.discriminator.parameters())
    before = [p.detach().clone() for p in objective.discriminator.parameters()]
    out = objective(_pair())
    after = list(objective.discriminator.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, after, strict=True))  # D stepped inside forward
    assert int(objective.d_optimizer.step_count) == 1 and "d_loss" in out
    out["loss"].backward()
    assert all(p.grad is None for p in objective.discriminator.parameters())
    assert all(p.grad is not None for p in objective.generator.parameters() if p.requires_grad)
    assert any(k.startswith("d_optimizer.exp_avg") for k in objective.state_dict())  # D's Adam is checkpointed


def test_buffer_adam_matches_torch_adam() -> None:
    torch.manual_seed(0)
    a = torch.nn.Parameter(torch.randn(5))
    b = torch.nn.Parameter(a.detach().clone())
    mine, ref = BufferAdam([a], lr=0.1, betas=(0.5, 0.999)), torch.optim.Adam([b], lr=0.1, betas=(0.5, 0.999))
    for i in range(4):
        g = torch.randn(5, generator=torch.Generator().manual_seed(i))
        mine.step([a], [g])
        b.grad = g.clone()
        ref.step()
    assert torch.allclose(a, b, atol=1e-6)


class _Pairs(torch.utils.data.Dataset):
    def __len__(self) -> int:
        return 2

    def __getitem__(self, i: int) -> dict:
        return {d: {k: v[0] for k, v in item.items()} for d, item in _pair(seed=i).items()}


def _pix2pix() -> Pix2PixObjective:
    torch.manual_seed(1)
    cfg = tiny_config(base_channels=4, levels=2)
    return Pix2PixObjective(build_generator(cfg), build_discriminator(cfg, BaselineConfig()), BaselineConfig(), 1e-3)


def _hash(module: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for k, v in sorted(module.state_dict().items()):
        h.update(k.encode() + v.detach().cpu().numpy().tobytes())
    return h.hexdigest()


def test_pix2pix_resume_is_exact_with_the_generic_trainer(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from pds_mri.training.data import collate

    cfg = TrainerConfig(
        steps=4, warmup_steps=1, checkpoint_every=0, validate_every=0, tensorboard=False, progress=False
    )

    def loss_fn(model, batch, generator):  # type: ignore[no-untyped-def]
        return model(batch, generator)

    straight = _pix2pix()
    Trainer(straight, loss_fn, _Pairs(), tmp_path / "a", cfg, collate_fn=collate).train()
    killed = _pix2pix()
    Trainer(killed, loss_fn, _Pairs(), tmp_path / "b", cfg, collate_fn=collate).train(stop_at=2)
    resumed = _pix2pix()
    Trainer(resumed, loss_fn, _Pairs(), tmp_path / "b", cfg, collate_fn=collate).train(resume=True)
    assert _hash(resumed) == _hash(straight)
    assert int(resumed.d_optimizer.step_count) == 4


def test_regression_objective_l2_is_the_masked_mse() -> None:
    from pds_mri.models.losses import masked_mse

    torch.manual_seed(0)
    gen = build_generator(tiny_config())
    pair = _pair()
    l2 = RegressionObjective(gen, "l2")(pair)
    expected = sum(masked_mse(gen(pair[d]), pair[d]["target"], pair[d]["mask"]) for d in pair)
    assert set(l2) == {"loss", "fmri2dmri/l2", "dmri2fmri/l2"}
    assert torch.allclose(l2["loss"], expected)
    with pytest.raises(ValueError, match="loss"):
        RegressionObjective(gen, "huber")
