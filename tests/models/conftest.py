"""Fixtures: one synthetic batch per direction, each on its own grid."""

from __future__ import annotations

import pytest
import torch
from pds_testdata import GRIDS, make_batch


@pytest.fixture(params=sorted(GRIDS), ids=["fmri2dmri", "dmri2fmri"])
def direction(request: pytest.FixtureRequest) -> int:
    return int(request.param)


@pytest.fixture
def batch(direction: int) -> dict[str, torch.Tensor]:
    return make_batch(GRIDS[direction], direction)


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny volumes gain nothing from threads, and under ``pytest -n 2`` on 2 shared cores extra OpenMP
    threads only oversubscribe the machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
