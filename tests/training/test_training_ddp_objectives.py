"""The real objectives under torchrun (gloo, 2 processes): PDS stage 1 and 2, unet and pix2pix3d (whose
discriminator is all-reduced by hand) end every stage with identical weights on both ranks, and with the
weights of one process trained at the same global batch (2 × 1 = 1 × 2)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from pds_mri.training.checkpoint import load_checkpoint
from pds_mri.workflows.prepare import PrepareOptions, run_prepare
from tiny_setup import tiny_config

SCRIPT = Path(__file__).with_name("_ddp_objectives.py")
MODELS = {"pds": ("stage1", "stage2"), "unet": ("stage1",), "pix2pix3d": ("stage1",)}
# The comparison runs in float64 (`_ddp_objectives.py`): in fp32 a bias followed by a Group/InstanceNorm has a
# zero gradient whose rounding noise Adam turns into ~0.1·lr steps of random sign (~1e-3 apart between two
# reduction orders); in float64 what remains is reduction order: ≤ 6e-11 seen (pix2pix3d; PDS and unet ~1e-12).
# 1e-8 leaves two orders of magnitude for other BLAS builds and is ~1e4 below one Adam step (~lr = 2e-4), the
# size of the difference a wrong draw, loss weighting or batch makes.
ATOL, RTOL = 1e-8, 1e-6


def _run(args: list[str], env: dict[str, str]) -> None:
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


@pytest.fixture(scope="module")
def runs(sim_bids: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[int | str, Path]:
    """{2: OUT, 1: OUT, "fp32": OUT}: every model trained by 2 processes at batch 1 (fp32 and float64) and by
    1 process at batch 2 (float64)."""
    tmp = tmp_path_factory.mktemp("ddp_objectives")
    configs = {}
    for world, batch in ((2, 1), (1, 2)):
        # several steps: rank 0 and rank 1 see different subjects, so equal weights need DDP
        cfg = tiny_config(stage1_steps=3, stage2_steps=2, tensorboard=False, batch_size=batch)
        configs[world] = tmp / f"tiny-world{world}.yaml"
        configs[world].write_text(yaml.safe_dump(cfg))
    prepared = tmp / "prepared"
    run_prepare(PrepareOptions(bids_dir=sim_bids, out_dir=prepared, config=configs[2]))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", "CUDA_VISIBLE_DEVICES": ""}
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(var, None)
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone", str(SCRIPT)]
    single = [sys.executable, str(SCRIPT)]
    out = {2: tmp / "two", 1: tmp / "one", "fp32": tmp / "two-fp32"}
    for model in MODELS:
        _run([*torchrun, str(prepared), str(configs[2]), str(out["fp32"]), model], env)
        _run([*torchrun, str(prepared), str(configs[2]), str(out[2]), model, "float64"], env)
        _run([*single, str(prepared), str(configs[1]), str(out[1]), model, "float64"], env)
    return out


@pytest.mark.slow  # a prepared cohort + three 2-process and three 1-process trainings: ~2 min on 2 cores
@pytest.mark.distributed
def test_real_objectives_keep_both_ranks_identical(runs: dict[int | str, Path]) -> None:
    for model, stages in MODELS.items():
        for stage in stages:
            for run in (runs["fp32"], runs[2]):
                ranks = [json.loads((run / f"{model}-{stage}-rank{r}.json").read_text()) for r in (0, 1)]
                assert [r["world"] for r in ranks] == [2, 2]
                assert ranks[0]["step"] == ranks[1]["step"] > 0
                assert ranks[0]["weights"] == ranks[1]["weights"], f"{model} {stage}: the ranks' weights differ"


@pytest.mark.slow
@pytest.mark.distributed
def test_two_processes_train_like_one_at_the_same_global_batch(runs: dict[int | str, Path]) -> None:
    for model, stages in MODELS.items():
        for stage in stages:
            one, two = (
                load_checkpoint(runs[w] / model / stage / "checkpoints" / "last").group("model") for w in (1, 2)
            )
            assert one.keys() == two.keys()
            worst = max(float((one[k].double() - two[k].double()).abs().max()) for k in one)
            for key in one:
                where = f"{model} {stage} {key}"
                torch.testing.assert_close(two[key], one[key], atol=ATOL, rtol=RTOL, msg=lambda m, w=where: f"{w}: {m}")
            print(f"{model} {stage}: max |2 processes − 1 process| = {worst:.2e}")
