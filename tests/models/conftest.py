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
