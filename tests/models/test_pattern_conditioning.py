"""Pattern encoder (regional statistics → embedding) and the conditioning vector."""

from __future__ import annotations

import pytest
import torch
from pds_testdata import ROI_NETWORK

from pds_mri.models.conditioning import Conditioning, timestep_embedding
from pds_mri.models.denoiser import parameter_count
from pds_mri.models.pattern_encoder import PatternEncoder


def test_pattern_features_are_the_regional_statistics(batch: dict[str, torch.Tensor]) -> None:
    enc = PatternEncoder(ROI_NETWORK, embed_dim=16)
    feats = enc.features(batch["source"], batch["pattern"])
    assert feats.shape == (2, 160 + 2 * 6)
    src, pat = batch["source"][0, 0], batch["pattern"][0]
    for label in (1, 5):
        assert feats[0, label - 1].item() == pytest.approx(src[pat == label].mean().item(), abs=1e-5)
    net = torch.tensor([0, *ROI_NETWORK])[pat]  # label -> network; background excluded below
    in_net1 = (pat > 0) & (net == 1)
    assert feats[0, 160 + 1].item() == pytest.approx(src[in_net1].mean().item(), abs=1e-5)
    assert feats[0, 166 + 1].item() == pytest.approx(src[in_net1].std(unbiased=False).item(), abs=1e-5)
    assert feats[0, 20].item() == 0.0  # ROI 21 is absent from the grid


def test_pattern_embedding_follows_regional_statistics(batch: dict[str, torch.Tensor]) -> None:
    torch.manual_seed(0)
    enc = PatternEncoder(ROI_NETWORK, embed_dim=16)
    base = enc(batch["source"], batch["pattern"])
    assert base.shape == (2, 16)

    changed = batch["source"].clone()
    changed[:, 0][batch["pattern"] == 3] += 0.5  # one ROI brighter
    emb = enc(changed, batch["pattern"])
    assert (emb - base).abs().max() > 1e-4

    outside = batch["source"].clone()
    noise = torch.randn(outside.shape, generator=torch.Generator().manual_seed(1))
    outside[:, 0][batch["pattern"] == 0] += noise[:, 0][batch["pattern"] == 0]  # only non-ROI voxels
    torch.testing.assert_close(enc(outside, batch["pattern"]), base, rtol=0, atol=0)


def test_pattern_embedding_is_per_subject(batch: dict[str, torch.Tensor]) -> None:
    enc = PatternEncoder(ROI_NETWORK, embed_dim=8)
    changed = batch["source"].clone()
    changed[0, 0][batch["pattern"][0] == 2] -= 0.3  # subject 0 only
    a, b = enc(batch["source"], batch["pattern"]), enc(changed, batch["pattern"])
    assert not torch.allclose(a[0], b[0]) and torch.equal(a[1], b[1])


def test_pattern_encoder_rejects_bad_input(batch: dict[str, torch.Tensor]) -> None:
    enc = PatternEncoder(ROI_NETWORK[:4], embed_dim=8)  # only 4 ROIs known
    with pytest.raises(ValueError, match="labels"):
        enc(batch["source"], batch["pattern"])
    with pytest.raises(ValueError, match="num_networks"):
        PatternEncoder([0, 7], embed_dim=8, num_networks=6)


def test_timestep_embedding_distinguishes_steps() -> None:
    emb = timestep_embedding(torch.tensor([0, 1, 999]), 33)
    assert emb.shape == (3, 33)
    assert not torch.allclose(emb[0], emb[1])


def test_unknown_diagnosis_uses_the_null_token() -> None:
    torch.manual_seed(0)
    cond = Conditioning(16)
    t = torch.tensor([10, 10, 10])
    direction = torch.zeros(3, dtype=torch.long)
    pattern = torch.zeros(3, 16)
    out = cond(t, direction, torch.tensor([-1, 0, 2]), pattern)
    null = cond.time_mlp(timestep_embedding(t, 16))[0] + cond.direction.weight[0] + cond.diagnosis.weight[3]
    torch.testing.assert_close(out[0], null)
    assert not torch.allclose(out[0], out[1]) and not torch.allclose(out[1], out[2])
    torch.testing.assert_close(cond(t, direction, None, pattern)[1], null)  # no labels at all
    dropped = cond(t, direction, torch.tensor([0, 1, 2]), pattern, drop_prob=1.0)
    torch.testing.assert_close(dropped, null.expand(3, -1))
    with pytest.raises(ValueError, match="diagnosis"):
        cond(t, direction, torch.tensor([0, 3, 1]), pattern)


def test_diagnosis_dropout_is_seeded() -> None:
    cond = Conditioning(8)
    dx = torch.randint(0, 3, (64,), generator=torch.Generator().manual_seed(0))
    a = cond.diagnosis_index(dx, 0.3, torch.Generator().manual_seed(5))
    b = cond.diagnosis_index(dx, 0.3, torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and 0 < (a == cond.null_index).sum() < 64


def test_conditioning_parts_switch_off() -> None:
    full = Conditioning(16)
    t = torch.tensor([5, 500])
    d = torch.tensor([0, 1])
    for flag in ("use_direction", "use_diagnosis"):
        reduced = Conditioning(16, **{flag: False})
        assert parameter_count(reduced) < parameter_count(full)
    no_pattern = Conditioning(16, use_pattern=False)
    torch.testing.assert_close(no_pattern(t, d, None, None), no_pattern(t, d, None, torch.ones(2, 16)))
    assert not torch.allclose(full(t, d, None, torch.zeros(2, 16)), full(t, d, None, torch.ones(2, 16)))
    with pytest.raises(ValueError, match="pattern_emb"):
        full(t, d, None, None)
