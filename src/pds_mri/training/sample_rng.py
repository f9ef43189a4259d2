"""One random stream per training sample, keyed on (seed, step, the sample's position in the global batch).

Why: with one generator per process drawing for its whole batch, a sample's noise, timestep and condition
dropout depend on which rank it landed on and where in that rank's batch, so two processes at batch B and
one process at batch 2B train on different draws. A stream per sample makes every draw a function of the
sample's global position only (`StepBatchSampler` puts the same samples at the same positions however the
global batch is sharded), so both runs compute the same per-sample losses.

The model code takes an `Rng`: a plain ``torch.Generator`` (synthesis, direct calls: exactly the draws it
always made), a `SampleRng` (training), or None (the global RNG). `randn`, `rand` and `randint` draw a
(B, ...) tensor from either. Cost: one fill per sample and draw (in place, no copy); the total of random
numbers is unchanged, and a per-sample seed is derived once per step (~10 µs a sample).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

#: domain tag mixed into every per-sample seed, so these streams never coincide with `step_seed`'s
_TAG = 0x5A4D_5053


def sample_seed(seed: int, step: int, position: int) -> int:
    """A well-mixed 63-bit seed for the sample at ``position`` of step ``step``'s global batch."""
    state = np.random.SeedSequence([seed, step, position, _TAG]).generate_state(1, np.uint64)[0]
    return int(state >> np.uint64(1))


class SampleRng:
    """Generators for the samples of one (per-process) batch: draws are stacked along dimension 0."""

    def __init__(self, device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)
        self._pool: list[torch.Generator] = []
        self._count = 0

    def reseed(self, seed: int, step: int, first: int, count: int) -> SampleRng:
        """Streams of the samples at global positions first .. first+count-1 of step ``step``."""
        while len(self._pool) < count:
            self._pool.append(torch.Generator(device=self.device))
        for i in range(count):
            self._pool[i].manual_seed(sample_seed(seed, step, first + i))
        self._count = count
        return self

    @classmethod
    def for_positions(
        cls, seed: int, step: int, first: int, count: int, device: torch.device | str = "cpu"
    ) -> SampleRng:
        return cls(device).reseed(seed, step, first, count)

    def __len__(self) -> int:
        return self._count

    @property
    def generators(self) -> list[torch.Generator]:
        return self._pool[: self._count]

    def _empty(self, shape: Sequence[int], dtype: torch.dtype | None) -> Tensor:
        if not shape or shape[0] != self._count:
            raise ValueError(f"a per-sample draw needs shape (B={self._count}, ...), got {tuple(shape)}")
        return torch.empty(tuple(shape), dtype=dtype, device=self.device)

    # filled in place, one sample's slice per generator: the values of torch.randn/rand/randint of that
    # slice's shape (they are these fills), without a copy to stack them
    def randn(self, shape: Sequence[int], dtype: torch.dtype | None = None) -> Tensor:
        out = self._empty(shape, dtype)
        for i, g in enumerate(self.generators):
            out[i].normal_(generator=g)
        return out

    def rand(self, shape: Sequence[int]) -> Tensor:
        out = self._empty(shape, None)
        for i, g in enumerate(self.generators):
            out[i].uniform_(generator=g)
        return out

    def randint(self, low: int, high: int, shape: Sequence[int]) -> Tensor:
        out = self._empty(shape, torch.int64)
        for i, g in enumerate(self.generators):
            out[i].random_(low, high, generator=g)
        return out


Rng = torch.Generator | SampleRng | None


def rng_device(rng: Rng, default: torch.device | str) -> torch.device:
    """Where ``rng`` draws (a seeded draw is made there, then moved: device-independent results)."""
    return rng.device if rng is not None else torch.device(default)


def randn(shape: Sequence[int], rng: Rng, device: torch.device | str, dtype: torch.dtype | None = None) -> Tensor:
    """N(0, 1) of ``shape`` from ``rng``, on ``device``."""
    if isinstance(rng, SampleRng):
        return rng.randn(shape, dtype).to(device)
    return torch.randn(tuple(shape), generator=rng, device=rng_device(rng, device), dtype=dtype).to(device)


def rand(shape: Sequence[int], rng: Rng, device: torch.device | str) -> Tensor:
    """U[0, 1) of ``shape`` from ``rng``, on ``device``."""
    if isinstance(rng, SampleRng):
        return rng.rand(shape).to(device)
    return torch.rand(tuple(shape), generator=rng, device=rng_device(rng, device)).to(device)


def randint(low: int, high: int, shape: Sequence[int], rng: Rng, device: torch.device | str) -> Tensor:
    """Integers in [low, high) of ``shape`` from ``rng``, on ``device``."""
    if isinstance(rng, SampleRng):
        return rng.randint(low, high, shape).to(device)
    return torch.randint(low, high, tuple(shape), generator=rng, device=rng_device(rng, device)).to(device)
