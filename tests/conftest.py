"""Session fixtures: one tiny simulated BIDS cohort and its prepared directory, built once per worker."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from pds_mri.threads import THREAD_ENV

# pytest-xdist already runs one test per core: a thread pool per core in every worker, and in every process a
# test starts (prepare workers, torchrun ranks, the CLI in a subprocess), would only oversubscribe the machine.
# Set before torch, numpy or ITK is loaded (they read it at start-up); a test that checks thread caps sets its own.
for _name in THREAD_ENV:
    os.environ.setdefault(_name, "1")

from pds_mri.config import preset  # noqa: E402


@pytest.fixture(scope="session")
def sim_bids(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six cpu-preset subjects (two per diagnosis); one lacks fMRI and one lacks dMRI."""
    from pds_mri.simulate import simulate_cohort

    root = tmp_path_factory.mktemp("sim") / "bids"
    simulate_cohort(root, preset("cpu"), n_subjects=6, seed=7, missing_fmri=0.17, missing_dmri=0.17)
    return root


@pytest.fixture(scope="session")
def prepared(sim_bids: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from pds_mri.workflows.prepare import PrepareOptions, run_prepare

    out = tmp_path_factory.mktemp("prep") / "prepared"
    run_prepare(PrepareOptions(bids_dir=sim_bids, out_dir=out, preset="cpu"))
    return out


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """Tiny volumes gain nothing from threads, and pytest-xdist already runs one test per core:
    extra OpenMP threads would only oversubscribe the machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
