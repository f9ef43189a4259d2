"""Fixtures of the reliability suite: a tiny prepared cohort and a finished `pds train` run, made by the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ._helpers import TINY, run_pds


@pytest.fixture(scope="session")
def tiny_cli(sim_bids: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny config, a clean prepared directory and an uninterrupted `pds train` run (the references)."""
    root = tmp_path_factory.mktemp("tiny-cli")
    config = root / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY))
    prepared = root / "prepared"
    done = run_pds(["prepare", sim_bids, prepared, "--config", config])
    assert done.returncode == 0, done.stderr
    run = root / "run"
    done = run_pds(["train", prepared, run, "--config", config, "--seed", "3"])
    assert done.returncode == 0, done.stderr
    return {"config": config, "prepared": prepared, "run": run, "root": root, "bids": sim_bids}
