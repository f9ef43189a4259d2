"""Fixtures for the schedule and sampler tests."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny volumes gain nothing from threads, and under ``pytest -n 2`` on 2 shared cores extra OpenMP
    threads only oversubscribe the machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
