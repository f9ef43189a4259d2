"""Shared configs for the simulator tests: the cpu preset for physics checks, a tiny one for BIDS I/O."""

from __future__ import annotations

import pytest

from pds_mri.config import Config, Simulation, preset


def tiny_config() -> Config:
    """Coarse grids and few volumes: enough for file-level checks in a fraction of a second per subject."""
    sim = Simulation(
        bold_shape=(20, 24, 14),
        bold_voxel_mm=(9.6, 9.6, 12.0),
        bold_volumes=24,
        repetition_time=2.5,
        dwi_shape=(22, 26, 18),
        dwi_voxel_mm=(8.0, 8.0, 9.0),
        dwi_directions=6,
        dwi_b0s=1,
        t1w_voxel_mm=8.0,
    )
    return preset("cpu").model_copy(update={"simulation": sim})


@pytest.fixture(scope="session")
def cpu_config() -> Config:
    return preset("cpu")


@pytest.fixture(scope="session")
def tiny() -> Config:
    return tiny_config()
