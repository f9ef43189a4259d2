"""The real objectives under torchrun (gloo, 2 processes): PDS stage 1 and 2, unet and pix2pix3d (whose
discriminator is all-reduced by hand) end every stage with identical weights on both ranks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pds_mri.workflows.prepare import PrepareOptions, run_prepare
from tiny_setup import tiny_config

SCRIPT = Path(__file__).with_name("_ddp_objectives.py")
MODELS = {"pds": ("stage1", "stage2"), "unet": ("stage1",), "pix2pix3d": ("stage1",)}


@pytest.mark.slow  # a prepared cohort + three 2-process trainings: ~1 min on 2 cores
@pytest.mark.distributed
def test_real_objectives_keep_both_ranks_identical(sim_bids: Path, tmp_path: Path) -> None:
    config = tmp_path / "tiny.yaml"
    # batch 1 per rank, several steps: rank 0 and rank 1 see different subjects, so equal weights need DDP
    config.write_text(yaml.safe_dump(tiny_config(stage1_steps=3, stage2_steps=2, tensorboard=False)))
    prepared = tmp_path / "prepared"
    run_prepare(PrepareOptions(bids_dir=sim_bids, out_dir=prepared, config=config))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", "CUDA_VISIBLE_DEVICES": ""}
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(var, None)
    out = tmp_path / "runs"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone", str(SCRIPT)]
    for model, stages in MODELS.items():
        args = [*cmd, str(prepared), str(config), str(out), model]
        proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        for stage in stages:
            ranks = [json.loads((out / f"{model}-{stage}-rank{r}.json").read_text()) for r in (0, 1)]
            assert [r["world"] for r in ranks] == [2, 2]
            assert ranks[0]["step"] == ranks[1]["step"] > 0
            assert ranks[0]["weights"] == ranks[1]["weights"], f"{model} {stage}: the ranks' weights differ"
