"""`benchmarks/gpu_check.py --tiny`: the GPU check's own code on CPU, so it still runs when a GPU turns up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.py"


@pytest.mark.slow
def test_gpu_check_tiny_writes_every_figure_within_a_minute(tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(var, None)
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--tiny", "--out", str(tmp_path)], env=env, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - start
    assert proc.returncode == 0, proc.stderr[-3000:]
    payload = json.loads((tmp_path / "gpu_check.json").read_text())
    assert payload["tiny"] is True and "--tiny" in payload["command"]
    assert {"date", "torch", "cpu", "gpu", "cuda"} <= payload["machine"].keys()
    configs = {(r["dtype"], r["gradient_checkpointing"]) for r in payload["training"]}
    assert configs == {("fp32", False), ("fp32", True), ("bf16", False), ("bf16", True)}
    for row in payload["training"]:
        assert row["status"] == "ok" and row["loss_finite"], row
        assert row["steps_per_s"] > 0 and row["peak_memory_mb"] > 0
    assert [r["network_evaluations"] for r in payload["synthesis"]] == [1, 2, 8]
    assert all(r["seconds_per_subject"] > 0 for r in payload["synthesis"])
    assert payload["ddp"]["status"] == "ok" and payload["ddp"]["identical_weights"] is True
    md = (tmp_path / "gpu_check.md").read_text()
    assert payload["machine"]["torch"] in md and payload["command"] in md and "| bf16 | True | ok |" in md
    assert elapsed < 60, f"gpu_check --tiny took {elapsed:.0f} s"
