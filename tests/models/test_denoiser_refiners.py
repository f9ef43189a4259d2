"""Denoiser and refiners: shapes on both grids and odd grids, identity at init, ablations, cost."""

from __future__ import annotations

import pytest
import torch
from pds_testdata import ROI_NETWORK, make_batch

from pds_mri.models.config import PDSConfig
from pds_mri.models.cost import count_flops, pds_component_costs, time_forward
from pds_mri.models.denoiser import ConditionalDenoiser3D, parameter_count
from pds_mri.models.factory import build_pds
from pds_mri.models.micro_refiner import MicrostructureRefiner
from pds_mri.models.padding import crop_padding, pad_to_multiple
from pds_mri.models.tissue_refiner import TissueRefiner

ODD_GRIDS = [(12, 12, 8), (16, 16, 10), (11, 13, 7)]


@pytest.mark.parametrize("shape", ODD_GRIDS)
@pytest.mark.parametrize("multiple", [1, 4, 8])
def test_pad_crop_round_trip(shape: tuple[int, int, int], multiple: int) -> None:
    x = torch.randn(1, 2, *shape)
    padded, pad = pad_to_multiple(x, multiple)
    assert all(s % multiple == 0 for s in padded.shape[2:])
    assert torch.equal(crop_padding(padded, pad), x)


@pytest.mark.parametrize("shape", ODD_GRIDS)
@pytest.mark.parametrize(("levels", "attention"), [(2, False), (3, True), (4, True)])
def test_denoiser_shapes_on_any_grid(shape: tuple[int, int, int], levels: int, attention: bool) -> None:
    net = ConditionalDenoiser3D(emb_dim=16, base_channels=4, levels=levels, attention=attention)
    x, src = torch.randn(2, 1, *shape), torch.randn(2, 1, *shape)
    out = net(x, src, torch.randn(2, 16))
    assert out.shape == x.shape
    assert torch.count_nonzero(out) == 0  # zero-initialised head: the untrained net predicts 0


def _perturbed(net: torch.nn.Module) -> torch.nn.Module:
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    return net


def test_denoiser_uses_its_inputs_and_conditioning() -> None:
    net = _perturbed(ConditionalDenoiser3D(emb_dim=16, base_channels=4, levels=3))
    x, src, cond = torch.randn(1, 1, 12, 12, 8), torch.randn(1, 1, 12, 12, 8), torch.randn(1, 16)
    out = net(x, src, cond)
    assert not torch.allclose(out, net(x, src + 0.5, cond))
    assert not torch.allclose(out, net(x, src, cond + 0.5))


def test_denoiser_attention_and_checkpointing() -> None:
    with_attn = ConditionalDenoiser3D(emb_dim=16, base_channels=4, levels=3, attention=True)
    without = ConditionalDenoiser3D(emb_dim=16, base_channels=4, levels=3, attention=False)
    assert with_attn.num_parameters() > without.num_parameters()

    torch.manual_seed(0)
    net = _perturbed(ConditionalDenoiser3D(emb_dim=16, base_channels=4, levels=3))
    x, src, cond = torch.randn(1, 1, 12, 12, 8), torch.randn(1, 1, 12, 12, 8), torch.randn(1, 16)
    net.train()
    grads = []
    for flag in (False, True):
        net.gradient_checkpointing = flag
        net.zero_grad()
        net(x, src, cond).square().mean().backward()
        grads.append(torch.cat([p.grad.flatten() for p in net.parameters()]))
    torch.testing.assert_close(grads[0], grads[1])


@pytest.mark.parametrize("shape", ODD_GRIDS)
def test_refiners_preserve_shape_and_start_as_identity(shape: tuple[int, int, int]) -> None:
    b = make_batch(shape, direction=0)
    est = torch.randn(2, 1, *shape)
    tissue = TissueRefiner(channels=4, levels=3)
    micro = MicrostructureRefiner(channels=4)
    torch.testing.assert_close(tissue(b["source"], est, b["tissue"]), est)
    torch.testing.assert_close(micro(est, b["source"]), est)
    for module, args in ((tissue, (b["source"], est, b["tissue"])), (micro, (est, b["source"]))):
        out = _perturbed(module)(*args)
        assert out.shape == est.shape and not torch.allclose(out, est)


def test_micro_refiner_views_are_independent_unless_shared() -> None:
    assert parameter_count(MicrostructureRefiner(8, shared=True)) * 3 == parameter_count(MicrostructureRefiner(8))


def test_micro_refiner_is_a_small_fraction_of_a_denoiser_pass() -> None:
    """Default widths, small grid: FLOPs scale with voxels for both, so the ratio carries to real grids."""
    shape = (16, 16, 12)
    pds = build_pds(PDSConfig(), ROI_NETWORK)
    b = make_batch(shape, direction=1, batch=1)
    t = torch.tensor([500])
    cond = pds.condition(b, t)
    denoiser = count_flops(pds.denoiser, (b["source"], pds.denoiser_source(b), cond))
    micro = count_flops(pds.micro_refiner, (b["source"], b["source"]))
    tissue = count_flops(pds.tissue_refiner, (b["source"], b["source"], b["tissue"]))
    assert micro < 0.05 * denoiser
    assert tissue < 0.10 * denoiser


def test_cost_helpers_run() -> None:
    pds = build_pds(PDSConfig(base_channels=4, levels=2, tissue_channels=4, micro_channels=4), ROI_NETWORK)
    b = make_batch((12, 12, 8), direction=0, batch=1)
    timing = time_forward(pds.micro_refiner, (b["source"], b["source"]), repeats=1, warmup=0)
    assert timing["median"] > 0
    costs = pds_component_costs(pds, b, repeats=1)
    assert set(costs) == {"denoiser", "tissue_refiner", "micro_refiner"}
    assert costs["denoiser"]["flops"] > costs["micro_refiner"]["flops"] > 0
