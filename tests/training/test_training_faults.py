"""Faults under torchrun (gloo, 2 processes): one failing rank ends the job promptly; SIGTERM checkpoints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pds_mri.training import checkpoint as ckpt
from pds_mri.training import faults
from pds_mri.training.distributed import DistInfo

SCRIPT = Path(__file__).with_name("_ddp_fault.py")


class _DictStore:
    """The two calls the watchdog makes on a c10d store."""

    def __init__(self) -> None:
        self.values: dict[str, bytes] = {}

    def check(self, keys: list[str]) -> bool:
        return all(k in self.values for k in keys)

    def get(self, key: str) -> bytes:
        return self.values[key]


def test_the_watchdog_ends_a_rank_that_does_not_stop_by_itself_after_a_published_failure(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """The backstop for a rank blocked where no error reaches it (an NCCL collective with a dead peer)."""
    exits: list[int] = []
    monkeypatch.setattr(faults.os, "_exit", exits.append)
    store = _DictStore()
    dog = faults.Watchdog(DistInfo(rank=0, world_size=2), grace=0.2, poll=0.02, store=store)
    dog.start()
    time.sleep(0.3)
    assert dog.is_alive() and not exits  # no failure published: keeps watching
    store.values[faults.FAILURE_KEY] = json.dumps({"rank": 1, "error": "sub-07: corrupt"}).encode()
    dog.join(timeout=5)
    assert exits == [2]
    assert "pds: error: rank 0 stopped because rank 1 failed: sub-07: corrupt" in capfd.readouterr().err


def test_the_watchdog_stands_down_when_the_job_ends() -> None:
    dog = faults.Watchdog(DistInfo(rank=0, world_size=2), grace=0.1, poll=0.02, store=_DictStore())
    dog.start()
    dog.done.set()
    dog.join(timeout=2)
    assert not dog.is_alive()


def _torchrun(out: Path, *args: str, timeout: float = 90) -> tuple[subprocess.CompletedProcess[str], float, Path]:
    """Run the script on 2 gloo ranks; each rank's stderr goes to its own file under the returned log dir."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(var, None)
    logs = out / f"logs-{args[0]}"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone"]
    cmd += ["--log-dir", str(logs), "--redirects", "3", str(SCRIPT), str(out), *args]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    return proc, time.perf_counter() - t0, logs


def _rank_stderr(logs: Path, rank: int) -> str:
    (path,) = logs.rglob(f"attempt_0/{rank}/stderr.log")
    return path.read_text()


@pytest.mark.distributed
def test_an_error_on_one_rank_ends_every_rank_promptly_with_its_one_line_error(tmp_path: Path) -> None:
    """Rank 1 raises mid-training while rank 0 waits in a collective: before the fix rank 1 sat in
    cleanup's barrier and rank 0 in its all-reduce, until the 30-minute gloo timeout."""
    proc, _, logs = _torchrun(tmp_path, "fail", timeout=90)
    ended = time.time()
    assert proc.returncode != 0
    # from the raise to the end of every rank (torchrun's start-up and torch imports are not the fault path)
    elapsed = ended - float((tmp_path / "raised-at").read_text())
    assert elapsed < 30, f"the job took {elapsed:.0f} s to end after the error"
    failed, survivor = _rank_stderr(logs, 1).strip(), _rank_stderr(logs, 0).strip()
    assert failed == "pds: error: sub-07: the fMRI map is corrupt", failed
    assert survivor == "pds: error: rank 0 stopped because rank 1 failed: sub-07: the fMRI map is corrupt", survivor


@pytest.mark.slow  # three torchrun jobs: ~25 s
@pytest.mark.distributed
def test_sigterm_on_one_rank_checkpoints_every_rank_at_the_same_step_and_resume_is_exact(tmp_path: Path) -> None:
    at = 4  # rank 1 is signalled during step 5 (after 4 forwards): both ranks stop after it, at step 5
    stopped, _, logs = _torchrun(tmp_path / "stopped", "signal", str(at))
    assert stopped.returncode != 0
    for rank in (0, 1):
        err = _rank_stderr(logs, rank).strip()
        assert err.startswith("pds: training stopped by ") and "at step 5 of 8" in err, err
    state = ckpt.load_checkpoint(tmp_path / "stopped/run/checkpoints/last").state["trainer"]
    assert state["step"] == 5  # not a checkpoint_every multiple: the signal saved it
    resumed, _, _ = _torchrun(tmp_path / "stopped", "resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    full, _, _ = _torchrun(tmp_path / "full", "signal", "-1")  # never signalled
    assert full.returncode == 0, full.stderr[-3000:]
    hashes = {
        json.loads((tmp_path / run / f"rank{r}.json").read_text())["weights"]
        for run in ("stopped", "full")
        for r in (0, 1)
    }
    assert len(hashes) == 1, "the resumed run differs from the uninterrupted one, or the ranks differ"
