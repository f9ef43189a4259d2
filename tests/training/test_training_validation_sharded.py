"""Validation under torchrun (#17 item 4): each rank synthesises only its shard of the validation subjects,
and every rank gets the numbers one process gets for all of them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import _ddp_validate
import _training_prepared
import pytest

from pds_mri.errors import PdsError
from pds_mri.training.distributed import DistInfo, gather_by_index

SCRIPT = Path(__file__).with_name("_ddp_validate.py")


def _env() -> dict[str, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", "CUDA_VISIBLE_DEVICES": ""}
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(var, None)
    return env


@pytest.mark.slow
@pytest.mark.distributed
def test_two_ranks_validate_their_shards_and_agree_with_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # three subjects with both maps: uneven shards (rank 0 gets subjects 0 and 2, rank 1 gets subject 1)
    subjects = [*_training_prepared.SUBJECTS, ("sub-05", "MCI", True, True)]
    monkeypatch.setattr(_training_prepared, "SUBJECTS", subjects)
    prepared = _training_prepared.write_prepared(tmp_path / "prepared")
    out = tmp_path / "out"
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone", str(SCRIPT)]
    proc = subprocess.run([*torchrun, str(prepared), str(out)], env=_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    _ddp_validate.main(prepared, out)  # the one-process reference, in this process (no second start-up)
    one = json.loads((out / "world1-rank0.json").read_text())
    ranks = [json.loads((out / f"world2-rank{r}.json").read_text()) for r in (0, 1)]
    assert one["subjects"] == 3 and one["seen"] == [0, 1, 2]
    assert [r["seen"] for r in ranks] == [[0, 2], [1]]  # each rank synthesised its shard only
    for stage in ("stage1", "stage2"):
        expected = one["metrics"][stage]
        assert {"psnr", "ssim", "fmri2dmri/psnr", "dmri2fmri/ssim"} <= expected.keys()
        for r in ranks:
            got = r["metrics"][stage]
            assert got.keys() == expected.keys()
            # same weights, per-subject seeds and subject order: equal to rounding (bit-equal on CPU)
            assert all(got[k] == pytest.approx(expected[k], rel=1e-9, abs=1e-12) for k in expected), (stage, got)


def test_gather_by_index_orders_and_checks_coverage() -> None:
    one = DistInfo()
    assert gather_by_index({2: "c", 0: "a", 1: "b"}, 3, one) == ["a", "b", "c"]
    with pytest.raises(PdsError, match="cover 2 of 3 items"):
        gather_by_index({0: "a", 2: "c"}, 3, one)
