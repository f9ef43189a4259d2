from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pds_mri.training import checkpoint as ckpt

SCRIPT = Path(__file__).with_name("_ddp_train.py")


@pytest.mark.distributed
def test_torchrun_two_processes_gloo(tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(var, None)
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--standalone",
        str(SCRIPT),
        str(tmp_path),
    ]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    elapsed = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert [r["world"] for r in ranks] == [2, 2]
    assert ranks[0]["full"] == ranks[1]["full"]  # DDP kept the ranks in lock-step
    assert ranks[0]["ema"] == ranks[1]["ema"]
    assert ranks[0]["resumed"] == ranks[0]["full"] == ranks[1]["resumed"]  # stop at 3 + resume = uninterrupted
    assert [r["skipped"] for r in ranks] == [1, 1]  # rank 1's NaN made both ranks skip the step
    # rank 0 wrote the checkpoints, with every rank's RNG states (the per-sample streams need none: they are
    # keyed on the step)
    c = ckpt.load_checkpoint(tmp_path / "full/checkpoints/last")
    assert {"rng.rank0.torch_cpu", "rng.rank1.torch_cpu"} <= c.tensors.keys()
    assert c.state["trainer"]["world_size"] == 2 and c.state["trainer"]["step"] == 6
    assert (tmp_path / "full/logs/train.csv").is_file()
    assert elapsed < 60, f"torchrun test took {elapsed:.0f} s"
