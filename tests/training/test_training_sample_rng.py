"""Per-sample random streams: a sample's draws depend on (seed, step, global position) only."""

from __future__ import annotations

import pytest
import torch

from pds_mri.training.sample_rng import SampleRng, rand, randint, randn, sample_seed


def _draws(rng: SampleRng, n: int) -> list[torch.Tensor]:
    return [rng.randint(0, 1000, (n,)), rng.randn((n, 1, 3, 4, 2)), rng.rand((n,))]


def test_a_samples_draws_do_not_depend_on_how_the_global_batch_is_split() -> None:
    whole = _draws(SampleRng.for_positions(5, 7, 0, 4), 4)
    halves = [_draws(SampleRng.for_positions(5, 7, first, 2), 2) for first in (0, 2)]
    singles = [_draws(SampleRng.for_positions(5, 7, first, 1), 1) for first in range(4)]
    for i, draw in enumerate(whole):
        assert torch.equal(draw, torch.cat([h[i] for h in halves]))
        assert torch.equal(draw, torch.cat([s[i] for s in singles]))


def test_steps_and_positions_get_unrelated_streams() -> None:
    a = SampleRng.for_positions(5, 7, 0, 2).randn((2, 64))
    assert not torch.equal(a[0], a[1])
    assert not torch.equal(a, SampleRng.for_positions(5, 8, 0, 2).randn((2, 64)))
    assert not torch.equal(a, SampleRng.for_positions(6, 7, 0, 2).randn((2, 64)))


def test_reseeding_restarts_the_streams() -> None:
    rng = SampleRng()
    first = rng.reseed(1, 2, 3, 2).randn((2, 8))
    rng.randn((2, 8))
    assert torch.equal(rng.reseed(1, 2, 3, 2).randn((2, 8)), first)
    assert len(rng.reseed(1, 2, 3, 1)) == 1  # a smaller batch uses the first generators of the pool


def test_a_plain_generator_draws_exactly_what_torch_draws() -> None:
    """Synthesis and direct callers pass a torch.Generator: their draws are unchanged."""
    g, h = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.equal(randn((2, 5), g, "cpu"), torch.randn((2, 5), generator=h))
    assert torch.equal(rand((4,), g, "cpu"), torch.rand((4,), generator=h))
    assert torch.equal(randint(0, 9, (4,), g, "cpu"), torch.randint(0, 9, (4,), generator=h))
    assert randn((2, 3), None, "cpu", torch.float64).dtype == torch.float64


def test_a_draw_for_another_batch_size_is_refused() -> None:
    with pytest.raises(ValueError, match=r"B=2"):
        SampleRng.for_positions(0, 0, 0, 2).randn((3, 4))


def test_each_slice_is_what_torch_draws_from_the_samples_seed() -> None:
    rng = SampleRng.for_positions(0, 1, 4, 3)
    t, noise, u = rng.randint(0, 1000, (3,)), rng.randn((3, 1, 7, 6, 5)), rng.rand((3,))
    for i in range(3):
        g = torch.Generator().manual_seed(sample_seed(0, 1, 4 + i))
        assert torch.equal(t[i : i + 1], torch.randint(0, 1000, (1,), generator=g))
        assert torch.equal(noise[i : i + 1], torch.randn((1, 1, 7, 6, 5), generator=g))
        assert torch.equal(u[i : i + 1], torch.rand((1,), generator=g))
