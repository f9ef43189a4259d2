"""The key check: a tiny PDS learns a known nonlinear source → target relation in both directions.

Pinned, deterministic, tiny (MONAI habit): 2 subjects per direction on two different grids, one shared
model, Adam at lr 2e-3, then synthesis with the default sampler. PSNR must beat the identity
(source as prediction) by a wide margin on both directions.
"""

from __future__ import annotations

import torch
from pds_testdata import GRIDS, ROI_NETWORK, make_batch, psnr, tiny_config

from pds_mri.models.factory import build_config_sampler, build_pds, build_schedule


def test_tiny_pds_reconstructs_its_training_targets() -> None:
    torch.manual_seed(0)
    cfg = tiny_config()
    pds = build_pds(cfg, ROI_NETWORK)
    schedule = build_schedule(cfg.diffusion)
    sampler = build_config_sampler(cfg.diffusion, schedule)
    batches = {d: make_batch(shape, d, seed=d) for d, shape in GRIDS.items()}
    opt = torch.optim.Adam(pds.stage_parameters(1), lr=2e-3)
    g = torch.Generator().manual_seed(0)
    pds.train()
    for step in range(200):
        loss = pds.stage1_loss(batches[step % 2], schedule, g)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    pds.eval()
    for d, b in batches.items():
        mean, _ = pds.synthesize(b, sampler, cfg.diffusion.steps, generator=torch.Generator().manual_seed(1))
        identity = psnr(b["source"], b["target"], b["mask"])
        got = psnr(mean, b["target"], b["mask"])
        assert got > identity + 8.0 and got > 24.0, f"direction {d}: {got:.1f} dB vs identity {identity:.1f} dB"


def test_refiners_learn_to_correct_a_degraded_estimate() -> None:
    torch.manual_seed(0)
    pds = build_pds(tiny_config(), ROI_NETWORK)
    b = make_batch(GRIDS[1], 1)
    smooth = torch.nn.functional.avg_pool3d(b["target"], 3, stride=1, padding=1, count_include_pad=False)
    estimate = 0.8 * smooth + 0.1  # blurred, contrast-compressed, biased: what a weak stage 1 gives
    before = psnr(pds.refine(b, estimate), b["target"], b["mask"])
    opt = torch.optim.Adam(pds.stage_parameters(2), lr=2e-3)
    for _ in range(60):
        loss = pds.stage2_loss(b, estimate)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        after = psnr(pds.refine(b, estimate), b["target"], b["mask"])
    assert after > before + 3.0, f"{before:.1f} -> {after:.1f} dB"


def test_stage_losses_of_a_batch_are_the_means_of_its_samples_with_per_sample_streams() -> None:
    """Two processes at batch 1 train like one at batch 2: with a SampleRng keyed on the global position, each
    sample draws the same timestep, noise, dropout and stage-1 estimate wherever it lands, and the losses are
    means of per-sample losses (masks of different sizes included)."""
    from pds_mri.training.sample_rng import SampleRng

    torch.manual_seed(0)
    cfg = tiny_config(levels=2, base_channels=4, embed_dim=16, pattern_hidden=16)
    pds = build_pds(cfg, ROI_NETWORK).train()
    schedule = build_schedule(cfg.diffusion)
    sampler = build_config_sampler(cfg.diffusion, schedule)
    b = make_batch(GRIDS[0], 0, batch=2, seed=4)
    b["mask"][1, :, :6] = 0

    def terms(stage: int, first: int, count: int) -> dict[str, torch.Tensor]:
        part = {k: v[first : first + count] for k, v in b.items()}
        rng = SampleRng.for_positions(9, 3, first, count)
        if stage == 1:
            return pds.stage1_loss(part, schedule, rng)
        return pds.stage2_loss(part, sampler=sampler, steps=2, generator=rng, mode="sample")

    for stage in (1, 2):
        whole, one, two = terms(stage, 0, 2), terms(stage, 0, 1), terms(stage, 1, 1)
        for name, value in whole.items():
            torch.testing.assert_close(value, (one[name] + two[name]) / 2, rtol=1e-5, atol=1e-6, msg=f"{stage} {name}")
