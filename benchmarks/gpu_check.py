"""A prepared GPU check: one command, at most ~8 minutes on one GPU, figures for the README.

1. Training: PDS stage-1 steps/s and peak memory at the paper grid (batch 1 per direction, both directions,
   forward + backward + clip + AdamW), fp32 and bf16 autocast (as the trainer uses it), each with and without
   gradient checkpointing (`model.gradient_checkpointing`). CUDA: TF32 on (the default policy,
   `pds_mri.backends`); peak = torch.cuda.max_memory_allocated per configuration. CPU: process peak RSS.
2. Synthesis: seconds per subject (both directions, fp32) of PDS's posterior-mean readout at 1, 2 and 8
   network evaluations, random weights (time does not depend on training).
3. DDP smoke run: `torchrun --nproc_per_node=2` of a few stage-1 steps under DistributedDataParallel (NCCL
   when there are >= 2 GPUs, skipped with one GPU; gloo on CPU with --tiny); checks both ranks end with
   identical weights.

`--tiny` runs the same code on CPU with tiny grids and networks in well under a minute, so that the check
cannot rot before a GPU is available (`make test-all` runs it). Writes gpu_check.json and gpu_check.md
(date, machine, command, torch version) into --out. A section that would overrun --budget-s is skipped
and marked so; an out-of-memory configuration is recorded as such and the check goes on.

Usage: python benchmarks/gpu_check.py [--out benchmarks/results/gpu_check] [--tiny] [--steps N]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine
from speed import DIRECTIONS, grid_shapes, make_subject, peak_rss_mb, roi_network

NAME = "gpu_check"
EVALUATIONS = (1, 2, 8)
# tiny: the grids and networks of the test suite's tiny config (tests/tiny_setup.py)
TINY_SHAPES = {"fmri2dmri": (16, 16, 10), "dmri2fmri": (12, 12, 8)}
TINY_MODEL = {
    "base_channels": 4,
    "levels": 2,
    "attention": False,
    "pattern_hidden": 16,
    "tissue_channels": 4,
    "tissue_levels": 2,
    "micro_channels": 4,
}


def log(msg: str) -> None:
    print(f"[gpu_check {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _device() -> Any:
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _sync(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _pds(tiny: bool, checkpointing: bool = False) -> Any:
    from pds_mri.models.config import PDSConfig
    from pds_mri.models.factory import build_pds

    cfg = PDSConfig(gradient_checkpointing=checkpointing, **(TINY_MODEL if tiny else {}))
    return cfg, build_pds(cfg, roi_network())


def _batches(tiny: bool, device: Any) -> dict[str, dict]:
    shapes = TINY_SHAPES if tiny else grid_shapes("paper")
    return {
        d: {k: v.to(device) for k, v in make_subject(shape, i).items()} for i, (d, shape) in enumerate(shapes.items())
    }


def _oom_types() -> tuple[type[BaseException], ...]:
    import torch

    return (torch.cuda.OutOfMemoryError,) if hasattr(torch.cuda, "OutOfMemoryError") else ()


# ------------------------------------------------------------------------------------------------- train
def count_host_syncs(step: Any, device: Any) -> int | None:
    """Host synchronisations one training step makes on CUDA (torch's sync debug mode warns on each); None
    elsewhere (a CPU has nothing to wait for). The objective's own reads: the trainer adds one per step."""
    import warnings

    import torch

    if device.type != "cuda":
        return None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            step()
            torch.cuda.synchronize(device)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message).lower() for w in caught)


def train_config(tiny: bool, dtype: str, checkpointing: bool, steps: int) -> dict:
    """Timed stage-1 steps after one warm-up step; peak memory of this configuration alone on CUDA."""
    import torch

    from pds_mri.models.factory import build_schedule
    from pds_mri.models.pds_objectives import Stage1Objective, freeze_for_stage

    device = _device()
    row: dict[str, Any] = {"dtype": dtype, "gradient_checkpointing": checkpointing, "device": device.type}
    cfg, pds = _pds(tiny, checkpointing)
    pds = pds.to(device).train()
    freeze_for_stage(pds, "stage1")
    objective = Stage1Objective(pds, build_schedule(cfg.diffusion))
    params = [p for p in pds.stage_parameters(1) if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=2e-4)
    batches = _batches(tiny, device)
    generator = torch.Generator(device=device).manual_seed(0)
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)

    def one_step() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=dtype == "bf16"):
            loss = objective(batches, generator)["loss"]
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        return loss

    times = []
    try:
        for i in range(steps + 1):
            _sync(device)
            start = time.perf_counter()
            loss = one_step()
            _sync(device)
            if i > 0:
                times.append(time.perf_counter() - start)
        row["loss_finite"] = bool(torch.isfinite(loss.detach()).item())
        row["host_syncs_per_step"] = count_host_syncs(one_step, device)
    except _oom_types():
        row["status"] = "out of memory"
        return row
    per_step = statistics.median(times)
    row |= {"status": "ok", "timed_steps": len(times), "seconds_per_step": per_step, "steps_per_s": 1.0 / per_step}
    if device.type == "cuda":
        row |= {"peak_memory_mb": torch.cuda.max_memory_allocated(device) / 2**20, "memory": "cuda_max_allocated"}
    else:
        row |= {"peak_memory_mb": peak_rss_mb(), "memory": "process_peak_rss"}
    row["trainable_params"] = sum(p.numel() for p in params)
    return row


# --------------------------------------------------------------------------------------------- synthesis
def synthesis(tiny: bool, repeats: int) -> list[dict]:
    """Seconds per subject (both directions) of the mean readout at each number of network evaluations."""
    import torch

    from pds_mri.models.factory import build_config_sampler

    device = _device()
    cfg, pds = _pds(tiny)
    pds = pds.to(device).eval()
    sampler = build_config_sampler(cfg.diffusion)
    batches = _batches(tiny, device)
    rows = []
    with torch.no_grad():
        for evaluations in EVALUATIONS:
            per_subject = []
            for r in range(repeats + 1):  # the first is the warm-up
                _sync(device)
                start = time.perf_counter()
                for d in DIRECTIONS:
                    g = torch.Generator(device=device).manual_seed(r)
                    mean, _ = pds.synthesize(
                        batches[d], sampler, cfg.diffusion.steps, 1, 1.0, g, mode="mean", mean_steps=evaluations
                    )
                    assert mean.shape == batches[d]["source"].shape
                _sync(device)
                if r > 0:
                    per_subject.append(time.perf_counter() - start)
            rows.append(
                {
                    "network_evaluations": evaluations,
                    "mode": "mean",
                    "seconds_per_subject": statistics.median(per_subject),
                    "repeats": len(per_subject),
                    "device": device.type,
                }
            )
            log(f"synthesis {evaluations} evaluation(s): {rows[-1]['seconds_per_subject']:.3f} s/subject")
    return rows


# ------------------------------------------------------------------------------------------------- torchrun
def ddp_worker(out: Path, tiny: bool, steps: int) -> None:
    """Run by torchrun: a few DDP stage-1 steps; each rank writes its seconds/step and weights' hash."""
    import torch

    from pds_mri.models.factory import build_schedule
    from pds_mri.models.pds_objectives import Stage1Objective, freeze_for_stage
    from pds_mri.training.distributed import cleanup, init_distributed, wrap_ddp

    info = init_distributed(device="cpu" if tiny else None)
    torch.manual_seed(info.rank)  # different inits: DDP must broadcast rank 0's weights
    cfg, pds = _pds(tiny)
    freeze_for_stage(pds, "stage1")
    model = wrap_ddp(Stage1Objective(pds, build_schedule(cfg.diffusion)), info)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=2e-4)
    batches = _batches(tiny, info.device)
    generator = torch.Generator(device=info.device).manual_seed(100 + info.rank)
    times = []
    for i in range(steps + 1):
        _sync(info.device)
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        model(batches, generator)["loss"].backward()
        optimizer.step()
        _sync(info.device)
        if i > 0:
            times.append(time.perf_counter() - start)
    digest = hashlib.sha256()
    for k, v in sorted(pds.state_dict().items()):
        digest.update(k.encode() + v.detach().cpu().contiguous().numpy().tobytes())
    entry = {"rank": info.rank, "seconds_per_step": statistics.median(times), "weights": digest.hexdigest()}
    (out / f"ddp-rank{info.rank}.json").write_text(json.dumps(entry))
    cleanup(info)


def ddp_smoke(out: Path, tiny: bool, steps: int, timeout: float) -> dict:
    import torch

    if not tiny and torch.cuda.device_count() < 2:
        return {"status": f"skipped: {torch.cuda.device_count()} GPU(s), needs 2"}
    scratch = out / "ddp"
    scratch.mkdir(parents=True, exist_ok=True)
    for old in scratch.glob("ddp-rank*.json"):
        old.unlink()
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT")}
    env |= {"OMP_NUM_THREADS": "1"} if tiny else {}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", __file__]
    cmd += ["--ddp-worker", str(scratch), "--steps", str(steps), *(["--tiny"] if tiny else [])]
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"status": f"failed: no result within {timeout:.0f} s"}
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        tail = " ".join(proc.stderr.split())[-400:]
        return {"status": f"failed: torchrun exit {proc.returncode}: {tail}", "wall_s": wall}
    ranks = [json.loads((scratch / f"ddp-rank{r}.json").read_text()) for r in range(2)]
    same = ranks[0]["weights"] == ranks[1]["weights"]
    return {
        "status": "ok" if same else "failed: the ranks' weights differ",
        "backend": "gloo" if tiny else "nccl",
        "processes": 2,
        "timed_steps": steps,
        "seconds_per_step": max(r["seconds_per_step"] for r in ranks),
        "identical_weights": same,
        "wall_s": wall,
    }


# ------------------------------------------------------------------------------------------------- output
def _table(rows: list[dict], columns: dict[str, str]) -> list[str]:
    def cell(row: dict, key: str) -> str:
        value = row.get(key, "")
        return f"{value:.3g}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(columns.values()) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    return lines + ["| " + " | ".join(cell(r, k) for k in columns) + " |" for r in rows]


def markdown(payload: dict) -> str:
    m = payload["machine"]
    where = m["gpu"] or f"{m['cpu']} ({m['cores']} cores, no GPU)"
    lines = [
        f"# GPU check ({'tiny, CPU' if payload['tiny'] else 'paper grid'})",
        "",
        f"Measured {m['date']} on {where}, torch {m['torch']} (CUDA {m.get('cuda') or 'n/a'}), "
        f"{payload['seconds']:.0f} s in all.",
        f"Command: `{payload['command']}`",
        "",
        "## Training (PDS stage 1, batch 1 per direction, both directions)",
        "",
        *_table(
            payload["training"],
            {
                "dtype": "precision",
                "gradient_checkpointing": "grad. checkpointing",
                "status": "status",
                "steps_per_s": "steps/s",
                "seconds_per_step": "s/step",
                "peak_memory_mb": "peak memory (MB)",
                "host_syncs_per_step": "host syncs/step",
            },
        ),
        "",
        "Peak memory: "
        + (
            "torch.cuda.max_memory_allocated per configuration."
            if not payload["tiny"]
            else "the process's peak RSS so far (CPU), not per configuration."
        ),
        "",
        "## Synthesis (fp32, posterior-mean readout, one subject = both directions)",
        "",
        *_table(
            payload["synthesis"],
            {"network_evaluations": "network evaluations", "seconds_per_subject": "s/subject"},
        ),
        "",
        f"## torchrun, 2 processes: {payload['ddp']['status']}",
    ]
    if "seconds_per_step" in payload["ddp"]:
        d = payload["ddp"]
        lines += [
            "",
            f"{d['backend']}, {d['seconds_per_step']:.3g} s/step, identical weights: {d['identical_weights']}",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/gpu_check"))
    parser.add_argument("--tiny", action="store_true", help="tiny grids and networks on CPU (CI)")
    parser.add_argument("--steps", type=int, default=None, help="timed training steps (default 10, tiny 2)")
    parser.add_argument("--repeats", type=int, default=None, help="timed syntheses (default 3, tiny 1)")
    parser.add_argument("--budget-s", type=float, default=420.0, help="skip sections that would start after this")
    parser.add_argument("--ddp-worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    steps = args.steps if args.steps is not None else (2 if args.tiny else 10)
    repeats = args.repeats if args.repeats is not None else (1 if args.tiny else 3)
    import torch

    if args.tiny:
        torch.set_num_threads(1)
    if args.ddp_worker:
        ddp_worker(args.ddp_worker, args.tiny, steps)
        return 0
    from pds_mri.backends import configure_backends

    configure_backends(deterministic=False)  # the default policy of pds train / synthesize: TF32 on CUDA
    if not args.tiny and not torch.cuda.is_available():
        print("gpu_check: no CUDA device; use --tiny for the CPU run", file=sys.stderr)
        return 2
    t0 = time.perf_counter()

    def left() -> float:
        return args.budget_s - (time.perf_counter() - t0)

    training = []
    for dtype in ("fp32", "bf16"):
        for checkpointing in (False, True):
            if left() <= 0:
                training.append({"dtype": dtype, "gradient_checkpointing": checkpointing, "status": "skipped: budget"})
                continue
            training.append(train_config(args.tiny, dtype, checkpointing, steps))
            log(f"train {dtype} checkpointing={checkpointing}: {training[-1]}")
    synth = synthesis(args.tiny, repeats) if left() > 0 else [{"status": "skipped: budget"}]
    ddp = ddp_smoke(args.out, args.tiny, steps, timeout=max(60.0, left())) if left() > 0 else {"status": "skipped"}
    info = machine()
    info |= {"cuda": torch.version.cuda, "gpus": torch.cuda.device_count()}
    payload = {
        "name": NAME,
        "tiny": args.tiny,
        "command": shlex.join([Path(sys.executable).name, *sys.argv]),
        "machine": info,
        "seconds": time.perf_counter() - t0,
        "training": training,
        "synthesis": synth,
        "ddp": ddp,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{NAME}.json").write_text(json.dumps(payload, indent=2) + "\n")
    (args.out / f"{NAME}.md").write_text(markdown(payload))
    log(f"wrote {args.out / (NAME + '.json')} and .md in {payload['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
