"""PDS vs a MONAI reference diffusion pipeline: synthesis time per subject, component costs, training step.

Side by side in one run, on the same grids, with stage-1 networks of matched size (within 10 %):

* **PDS** with its defaults (``PDSConfig()``: the ``mean`` synthesis mode — one denoiser evaluation, the
  posterior-mean readout — 32 base channels, 4 levels, tissue + microstructure refiners), random weights
  (time does not depend on training).
* **unet** baseline (the PDS denoiser architecture, one pass), to check PDS's synthesis time per subject
  against the regression model a user would otherwise pick (target ≤ 3×).
* **MONAI reference**: ``DiffusionModelUNet`` (3D, 2 input channels = noisy target + source, concat
  conditioning) + ``DDIMScheduler`` 50 steps + ``DiffusionInferer.sample(mode="concat")``. MONAI's U-Net
  needs every spatial size divisible by 8 (4 levels), so source and noise are padded (replicate) to a
  multiple of 8 once and the result is cropped back.

One subject = both directions: fMRI→dMRI on the dMRI grid and dMRI→fMRI on the fMRI grid. Each pipeline
runs with ``torch.set_num_threads(--threads)``; synthesis runs PDS and MONAI interleaved in one subprocess
per grid (fair under load from other jobs), each training step pipeline in its own fresh subprocess (so
its peak RSS is its own).

Sections
1. Synthesis seconds per subject for each ``--grid`` (``cpu``: fMRI 32×32×18, dMRI 48×48×30; ``paper``:
   fMRI 64×64×36, dMRI 96×96×60) and the speed-up (target ≥ 5×). At the paper grid the MONAI run is
   timed for ``--monai-steps`` sampler steps and extrapolated linearly to 50 (marked ``extrapolated``).
2. Per-component cost of PDS (one denoiser pass incl. conditioning, tissue refiner, micro refiner) by
   time and FLOPs, and the micro refiner as a fraction of one denoiser pass.
3. Training step at the ``paper`` grid, batch 1 per direction, fp32, CPU: one stage-1 step of PDS (both
   directions, forward + backward + clip + AdamW) with and without gradient checkpointing, and the MONAI
   reference's step (ε-MSE, both directions); peak RSS (``ru_maxrss``) of a fresh process. Target ≤ 4 GB.

PSNR is not measured here (random weights); it is measured in the evaluation issue.

Usage: python benchmarks/speed.py --out benchmarks/results [--grid cpu|paper ...] [--quick] [--no-train]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, write_results

DIRECTIONS = ("fmri2dmri", "dmri2fmri")
TARGET_MODALITY = {"fmri2dmri": "dmri", "dmri2fmri": "fmri"}
MONAI_STEPS = 50
MONAI_MULTIPLE = 8  # 2 ** (len(channels) - 1)
SPEEDUP_TARGET = 5.0
UNET_RATIO_TARGET = 3.0
PEAK_TARGET_GB = 4.0
PSNR_NOTE = "not measured here (random weights); see the evaluation issue"


# ---------------------------------------------------------------------------------------------------
# shared pieces (imported lazily in the workers so the parent stays light)
# ---------------------------------------------------------------------------------------------------
def grid_shapes(grid: str) -> dict[str, tuple[int, int, int]]:
    from pds_mri.config import preset

    grids = preset(grid).grids
    return {d: tuple(getattr(grids, TARGET_MODALITY[d]).shape) for d in DIRECTIONS}


def make_subject(shape: tuple[int, int, int], direction: int, seed: int = 0) -> dict:
    """One synthetic subject on ``shape`` in the PDS batch layout (B = 1); content does not affect timing."""
    import torch

    g = torch.Generator().manual_seed(seed)
    axes = [torch.linspace(-1, 1, n) for n in shape]
    xx, yy, zz = torch.meshgrid(*axes, indexing="ij")
    mask = ((xx / 0.9) ** 2 + (yy / 0.9) ** 2 + (zz / 0.95) ** 2 <= 1).float()
    vol = torch.zeros(shape)
    for _ in range(6):
        c = torch.rand(3, generator=g) * 1.2 - 0.6
        w = 0.2 + 0.4 * torch.rand(1, generator=g).item()
        vol += (torch.rand(1, generator=g).item() * 2 - 1) * torch.exp(
            -((xx - c[0]) ** 2 + (yy - c[1]) ** 2 + (zz - c[2]) ** 2) / (2 * w**2)
        )
    source = torch.where(mask > 0, torch.tanh(1.5 * vol), torch.full_like(vol, -1.0))[None, None]
    target = torch.where(mask > 0, torch.sin(2.5 * source + 0.5) * 0.9, torch.full_like(source, -1.0))
    # 160 Dosenbach-like labels on a coarse block partition of the brain
    block = ((xx + 1) * 4).long().clamp(max=7) * 64 + ((yy + 1) * 4).long().clamp(max=7) * 8
    block = block + ((zz + 1) * 4).long().clamp(max=7)
    pattern = torch.where(mask > 0, block % 160 + 1, torch.zeros_like(block))[None]
    centres = torch.tensor([0.5, 0.0, -0.5]).reshape(1, 3, 1, 1, 1)
    tissue = torch.softmax(-((source - centres) ** 2) / 0.1, dim=1) * mask
    return {
        "source": source,
        "target": target,
        "mask": mask[None, None].clone(),
        "tissue": tissue,
        "pattern": pattern,
        "direction": torch.tensor([direction]),
        "diagnosis": torch.tensor([2]),
    }


def build_monai():
    from monai.networks.nets import DiffusionModelUNet

    return DiffusionModelUNet(
        spatial_dims=3,
        in_channels=2,
        out_channels=1,
        channels=(32, 64, 64, 128),
        num_res_blocks=1,
        attention_levels=(False, False, False, True),
        num_head_channels=16,
        norm_num_groups=16,
    )


def roi_network() -> list[int]:
    return [i % 6 for i in range(160)]


def rss_now_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def log(msg: str) -> None:
    print(f"[speed {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------------
# workers
# ---------------------------------------------------------------------------------------------------
def pds_pipeline(grid: str, repeats: int) -> tuple[dict, Callable[[str, int], float]]:
    """PDS with default settings; returns its description (incl. component costs) and ``run(direction, seed)``."""
    import torch

    from pds_mri.models.config import PDSConfig
    from pds_mri.models.cost import pds_component_costs
    from pds_mri.models.factory import build_config_sampler, build_pds

    cfg = PDSConfig()
    pds = build_pds(cfg, roi_network()).eval()
    sampler = build_config_sampler(cfg.diffusion)
    counts = pds.parameter_counts()
    batches = {d: make_subject(s, i) for i, (d, s) in enumerate(grid_shapes(grid).items())}
    components = {}
    for d, batch in batches.items():  # also the warm-up
        log(f"pds {grid} components {d}")
        components[d] = pds_component_costs(pds, batch, repeats=3 if grid == "paper" else 5, flops=True)

    d = cfg.diffusion
    evaluations = d.mean_steps if d.mode == "mean" else d.steps

    def run(direction: str, seed: int) -> float:
        batch = batches[direction]
        g = torch.Generator().manual_seed(seed)
        start = time.perf_counter()
        mean, _ = pds.synthesize(
            batch, sampler, d.steps, samples=1, guidance=1.0, generator=g, mode=d.mode, mean_steps=d.mean_steps
        )
        seconds = time.perf_counter() - start
        assert mean.shape == batch["source"].shape
        return seconds

    info = {
        "pipeline": "pds",
        "grid": grid,
        "shapes": {d: list(b["source"].shape[2:]) for d, b in batches.items()},
        "params": counts,
        "stage1_params": counts["denoiser"] + counts["conditioning"] + counts["pattern_encoder"],
        "sampler": cfg.diffusion.sampler,
        "mode": d.mode,
        "steps": evaluations,
        "network_evals_per_direction": evaluations,
        "repeats": repeats,
        "extrapolated": False,
        "components": components,
    }
    return info, run


def unet_pipeline(grid: str, repeats: int) -> tuple[dict, Callable[[str, int], float]]:
    """The unet baseline (PDS denoiser architecture, default size), one deterministic pass per direction."""

    from pds_mri.models.baselines.factory import build_generator
    from pds_mri.models.config import PDSConfig

    gen = build_generator(PDSConfig()).eval()
    batches = {d: make_subject(s, i) for i, (d, s) in enumerate(grid_shapes(grid).items())}
    for d, batch in batches.items():  # warm-up
        log(f"unet {grid} warm-up {d}")
        gen.synthesize(batch)

    def run(direction: str, seed: int) -> float:
        batch = batches[direction]
        start = time.perf_counter()
        mean, _ = gen.synthesize(batch)
        seconds = time.perf_counter() - start
        assert mean.shape == batch["source"].shape
        return seconds

    info = {"pipeline": "unet", "grid": grid, "params": gen.num_parameters(), "repeats": repeats}
    return info, run


def monai_pipeline(grid: str, repeats: int, measured_steps: int) -> tuple[dict, Callable[[str, int], float]]:
    """MONAI reference; ``run`` times ``measured_steps`` DDIM steps of the 50-step schedule (all 50 if equal)."""
    import torch
    from monai.inferers import DiffusionInferer
    from monai.networks.schedulers import DDIMScheduler

    from pds_mri.models.cost import count_flops, time_forward
    from pds_mri.models.padding import crop_padding, pad_to_multiple

    net = build_monai().eval()
    scheduler = DDIMScheduler(num_train_timesteps=1000)
    inferer = DiffusionInferer(scheduler)
    measured_steps = min(measured_steps, MONAI_STEPS)
    shapes = grid_shapes(grid)
    sources = {d: make_subject(s, i)["source"] for i, (d, s) in enumerate(shapes.items())}
    padded = {d: pad_to_multiple(src, MONAI_MULTIPLE) for d, src in sources.items()}
    evals = {}
    for d, (x, _) in padded.items():  # also the warm-up
        log(f"monai {grid} eval {d} {tuple(x.shape[2:])}")
        inputs = (torch.cat([x, x], 1), torch.tensor([500.0]))
        evals[d] = time_forward(net, inputs, repeats=3 if grid == "paper" else 5, warmup=1)
        evals[d]["flops"] = float(count_flops(net, inputs))

    def run(direction: str, seed: int) -> float:
        x, pad = padded[direction]
        scheduler.set_timesteps(MONAI_STEPS)
        scheduler.timesteps = scheduler.timesteps[:measured_steps]  # the first steps of the 50-step schedule
        noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed))
        start = time.perf_counter()
        image = inferer.sample(
            input_noise=noise,
            diffusion_model=net,
            scheduler=scheduler,
            conditioning=x,
            mode="concat",
            verbose=False,
        )
        image = crop_padding(image, pad)
        seconds = time.perf_counter() - start
        assert image.shape == sources[direction].shape
        return seconds * MONAI_STEPS / measured_steps

    info = {
        "pipeline": "monai",
        "grid": grid,
        "shapes": {d: list(s) for d, s in shapes.items()},
        "padded_shapes": {d: list(x.shape[2:]) for d, (x, _) in padded.items()},
        "params": sum(p.numel() for p in net.parameters()),
        "sampler": "DDIMScheduler",
        "steps": MONAI_STEPS,
        "network_evals_per_direction": MONAI_STEPS,
        "measured_steps": measured_steps,
        "extrapolated": measured_steps < MONAI_STEPS,
        "repeats": repeats,
        "network_eval": evals,
    }
    return info, run


def synthesis(grid: str, repeats: int, monai_steps: int) -> dict:
    """Both pipelines in one process, interleaved per repeat (alternating order) so that load from other
    jobs on a shared machine hits both alike; per direction the median and min over repeats."""
    pipelines = {
        "pds": pds_pipeline(grid, repeats),
        "unet": unet_pipeline(grid, repeats),
        "monai": monai_pipeline(grid, repeats, monai_steps),
    }
    times: dict[str, dict[str, list[float]]] = {p: {d: [] for d in DIRECTIONS} for p in pipelines}
    for r in range(repeats):
        for p in list(pipelines)[:: 1 if r % 2 == 0 else -1]:
            for d in DIRECTIONS:
                times[p][d].append(pipelines[p][1](d, r))
                log(f"{p} {grid} synth {d} repeat {r}: {times[p][d][-1]:.2f} s")
    out = {}
    for p, (info, _) in pipelines.items():
        info["seconds"] = {d: statistics.median(v) for d, v in times[p].items()}
        info["seconds_min"] = {d: min(v) for d, v in times[p].items()}
        info["seconds_all"] = times[p]
        out[p] = info
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def train_step(pipeline: str, steps: int, grid: str = "paper") -> dict:
    """Stage-1 training steps at the paper grid, batch 1 per direction; first step is warm-up."""
    import torch

    shapes = grid_shapes(grid)
    batches = {d: make_subject(s, i) for i, (d, s) in enumerate(shapes.items())}
    gen = torch.Generator().manual_seed(0)
    if pipeline in ("pds", "pds_ckpt"):
        from pds_mri.models.config import PDSConfig
        from pds_mri.models.factory import build_pds, build_schedule
        from pds_mri.models.pds_objectives import Stage1Objective, freeze_for_stage

        cfg = PDSConfig(gradient_checkpointing=pipeline == "pds_ckpt")
        pds = build_pds(cfg, roi_network()).train()
        freeze_for_stage(pds, "stage1")
        objective = Stage1Objective(pds, build_schedule(cfg.diffusion))
        params = [p for p in pds.stage_parameters(1) if p.requires_grad]

        def loss_fn():
            return objective(batches, gen)["loss"]

    else:
        from monai.inferers import DiffusionInferer
        from monai.networks.schedulers import DDPMScheduler

        from pds_mri.models.padding import pad_to_multiple

        net = build_monai().train()
        inferer = DiffusionInferer(DDPMScheduler(num_train_timesteps=1000))
        params = list(net.parameters())
        padded = {
            d: (pad_to_multiple(b["target"], MONAI_MULTIPLE)[0], pad_to_multiple(b["source"], MONAI_MULTIPLE)[0])
            for d, b in batches.items()
        }

        def loss_fn():
            total = 0
            for target, source in padded.values():
                noise = torch.randn(target.shape, generator=gen)
                t = torch.randint(0, 1000, (1,), generator=gen)
                pred = inferer(target, net, noise, t, condition=source, mode="concat")
                total = total + torch.nn.functional.mse_loss(pred, noise)
            return total

    optimizer = torch.optim.AdamW(params, lr=2e-4)
    rss_before = rss_now_mb()
    times = []
    for i in range(max(steps, 0) + 1):
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        seconds = time.perf_counter() - start
        log(f"train {pipeline} step {i}{' (warm-up)' if i == 0 else ''}: {seconds:.2f} s, loss {loss.item():.4f}")
        if i > 0 or steps == 0:
            times.append(seconds)
    return {
        "pipeline": pipeline,
        "grid": grid,
        "shapes": {d: list(s) for d, s in shapes.items()},
        "batch": 1,
        "dtype": "float32",
        "gradient_checkpointing": pipeline == "pds_ckpt",
        "trainable_params": sum(p.numel() for p in params),
        "seconds_per_step": statistics.median(times),
        "timed_steps": len(times),
        "warmup_included": steps == 0,
        "seconds_all": times,
        "rss_before_step_mb": rss_before,
        "peak_rss_mb": peak_rss_mb(),
    }


def worker(spec: dict) -> None:
    import torch

    torch.set_num_threads(spec["threads"])
    torch.manual_seed(0)
    kind = spec["kind"]
    if kind == "synth":
        result = synthesis(spec["grid"], spec["repeats"], spec["monai_steps"])
    elif kind == "train":
        result = train_step(spec["pipeline"], spec["steps"], spec.get("grid", "paper"))
    else:
        raise ValueError(kind)
    result["threads"] = torch.get_num_threads()
    print(json.dumps(result))


def run_worker(spec: dict) -> dict:
    cmd = [sys.executable, __file__, "--worker", json.dumps(spec)]
    proc = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------------
# tables
# ---------------------------------------------------------------------------------------------------
def _shape(s: list[int]) -> str:
    return "×".join(str(n) for n in s)


def pds_subject_flops(pds: dict, direction: str) -> float:
    """Network FLOPs of one PDS synthesis: steps × denoiser pass + the refiners."""
    c = pds["components"][direction]
    refiners = sum(c[k]["flops"] for k in ("tissue_refiner", "micro_refiner") if k in c)
    return pds["network_evals_per_direction"] * c["denoiser"]["flops"] + refiners


def synthesis_rows(pds: dict, monai: dict) -> list[dict]:
    total_pds = sum(pds["seconds"].values())
    total_monai = sum(monai["seconds"].values())
    min_pds = sum(pds["seconds_min"].values())
    min_monai = sum(monai["seconds_min"].values())
    flops_pds = sum(pds_subject_flops(pds, d) for d in DIRECTIONS)
    flops_monai = sum(MONAI_STEPS * monai["network_eval"][d]["flops"] for d in DIRECTIONS)
    rows = []
    for r, total, fastest in ((pds, total_pds, min_pds), (monai, total_monai, min_monai)):
        is_pds = r["pipeline"] == "pds"
        params = r["stage1_params"] if is_pds else r["params"]
        timing = f"full run, {r['repeats']} repeat(s)"
        if r["extrapolated"]:
            timing = f"EXTRAPOLATED from {r['measured_steps']} of {MONAI_STEPS} steps, {r['repeats']} repeat(s)"
        grid = f"{r['grid']} (dMRI {_shape(r['shapes']['fmri2dmri'])}, fMRI {_shape(r['shapes']['dmri2fmri'])})"
        flops = flops_pds if is_pds else flops_monai
        rows.append(
            {
                "grid": grid,
                "pipeline": (
                    f"PDS ({r.get('mode', 'sample')} mode): {r['steps']} denoiser evaluation(s) + tissue + micro "
                    "refiners"
                    if is_pds
                    else f"MONAI: DiffusionModelUNet + DDIM {MONAI_STEPS} steps, concat"
                ),
                "stage-1 params (M)": f"{params / 1e6:.2f}",
                "fMRI→dMRI (s)": f"{r['seconds']['fmri2dmri']:.1f}",
                "dMRI→fMRI (s)": f"{r['seconds']['dmri2fmri']:.1f}",
                "s / subject (median)": f"{total:.1f}",
                "speed-up (median)": f"{total_monai / total_pds:.1f}×" if is_pds else "1.0×",
                "s / subject (min)": f"{fastest:.1f}",
                "speed-up (min)": f"{min_monai / min_pds:.1f}×" if is_pds else "1.0×",
                "network TFLOP / subject": f"{flops / 1e12:.2f}",
                "FLOP ratio": f"{flops_monai / flops_pds:.1f}×" if is_pds else "1.0×",
                "timing": timing,
                "PSNR": "evaluation issue",
            }
        )
    return rows


def unet_rows(pds: dict, unet: dict) -> list[dict]:
    """PDS's synthesis time per subject against the unet baseline's, from the same interleaved run."""
    ratio = sum(pds["seconds"].values()) / sum(unet["seconds"].values())
    ratio_min = sum(pds["seconds_min"].values()) / sum(unet["seconds_min"].values())
    return [
        {
            "grid": pds["grid"],
            "PDS s / subject (median)": f"{sum(pds['seconds'].values()):.3f}",
            "unet s / subject (median)": f"{sum(unet['seconds'].values()):.3f}",
            "PDS ÷ unet (median)": f"{ratio:.2f}×",
            "PDS ÷ unet (min)": f"{ratio_min:.2f}×",
            f"≤ {UNET_RATIO_TARGET:.0f}×": "yes" if ratio <= UNET_RATIO_TARGET else "no",
            "PDS denoiser evaluations": pds["network_evals_per_direction"],
        }
    ]


def component_rows(pds: dict, monai: dict) -> list[dict]:
    rows = []
    for d in DIRECTIONS:
        c = pds["components"][d]
        den = c["denoiser"]
        micro = c.get("micro_refiner", {"median": float("nan"), "flops": float("nan")})
        tissue = c.get("tissue_refiner", {"median": float("nan"), "flops": float("nan")})
        ev = monai["network_eval"][d]
        rows.append(
            {
                "grid": pds["grid"],
                "direction (target grid)": f"{d} ({_shape(pds['shapes'][d])})",
                "PDS denoiser pass (s / GFLOP)": f"{den['median']:.3f} / {den['flops'] / 1e9:.1f}",
                "tissue refiner (s / GFLOP)": f"{tissue['median']:.3f} / {tissue['flops'] / 1e9:.2f}",
                "micro refiner (s / GFLOP)": f"{micro['median']:.3f} / {micro['flops'] / 1e9:.2f}",
                "micro ÷ denoiser (time / FLOPs)": (
                    f"{micro['median'] / den['median']:.3f} / {micro['flops'] / den['flops']:.3f}"
                ),
                "MONAI U-Net eval (s / GFLOP)": f"{ev['median']:.3f} / {ev['flops'] / 1e9:.1f}",
            }
        )
    return rows


def training_rows(results: list[dict]) -> list[dict]:
    names = {
        "pds": "PDS stage 1",
        "pds_ckpt": "PDS stage 1",
        "monai": "MONAI reference (ε-MSE)",
    }
    return [
        {
            "pipeline": names[r["pipeline"]],
            "gradient checkpointing": "yes" if r["gradient_checkpointing"] else "no",
            "grid": "paper (dMRI 96×96×60 + fMRI 64×64×36), batch 1 each, fp32",
            "trainable params (M)": f"{r['trainable_params'] / 1e6:.2f}",
            "s / step (both directions)": f"{r['seconds_per_step']:.1f}"
            + (" (first step, incl. warm-up)" if r["warmup_included"] else f" (median of {r['timed_steps']})"),
            "peak RSS (GB)": f"{r['peak_rss_mb'] / 1024:.2f}",
            "RSS before first step (GB)": f"{r['rss_before_step_mb'] / 1024:.2f}",
            f"≤ {PEAK_TARGET_GB:.0f} GB": "yes" if r["peak_rss_mb"] / 1024 <= PEAK_TARGET_GB else "no",
        }
        for r in results
    ]


def markdown_table(rows: list[dict]) -> list[str]:
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    return lines + ["| " + " | ".join(str(row[c]) for c in columns) + " |" for row in rows]


# ---------------------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--grid", nargs="+", choices=["cpu", "paper"], default=["cpu"], help="synthesis grids")
    parser.add_argument("--quick", action="store_true", help="fewer repeats/steps; MONAI 50 steps extrapolated")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=None, help="synthesis repeats (default 2, paper 1)")
    parser.add_argument(
        "--monai-steps",
        type=int,
        default=None,
        help="MONAI steps actually timed per direction, extrapolated to 50 (default: 50 at cpu, 3 at paper)",
    )
    parser.add_argument(
        "--train-steps", type=int, default=1, help="timed PDS training steps after warm-up (0: time the first step)"
    )
    parser.add_argument("--no-train", action="store_true", help="skip the training-step section")
    parser.add_argument("--no-monai-train", action="store_true", help="skip the MONAI training step")
    parser.add_argument(
        "--monai-train-steps", type=int, default=0, help="timed MONAI steps after warm-up (0: time the first step)"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(json.loads(args.worker))
        return

    start = time.perf_counter()
    load_start = os.getloadavg()
    synthesis: list[dict] = []
    versus_unet: list[dict] = []
    components: list[dict] = []
    training: list[dict] = []
    raw: dict = {"synthesis": {}, "training": []}

    def synth_task(grid: str) -> None:
        repeats = args.repeats or (1 if args.quick or grid == "paper" else 2)
        monai_steps = args.monai_steps or (3 if args.quick or grid == "paper" else MONAI_STEPS)
        spec = {"kind": "synth", "grid": grid, "repeats": repeats, "monai_steps": monai_steps, "threads": args.threads}
        raw["synthesis"][grid] = run_worker(spec)
        pds, monai = raw["synthesis"][grid]["pds"], raw["synthesis"][grid]["monai"]
        synthesis.extend(synthesis_rows(pds, monai))
        versus_unet.extend(unet_rows(pds, raw["synthesis"][grid]["unet"]))
        components.extend(component_rows(pds, monai))
        log(f"synthesis {grid}: {sum(pds['seconds'].values()):.1f} s (PDS) vs {sum(monai['seconds'].values()):.1f} s")

    def train_task(pipeline: str) -> None:
        steps = args.monai_train_steps if pipeline == "monai" else args.train_steps
        spec = {"kind": "train", "pipeline": pipeline, "steps": steps, "threads": args.threads}
        raw["training"].append(run_worker(spec))
        training[:] = training_rows(raw["training"])

    # most informative first; results are rewritten after every task, so a cut-short run keeps its parts
    grids = list(dict.fromkeys(args.grid))
    tasks = [lambda g=g: synth_task(g) for g in grids if g != "paper"]
    if not args.no_train:
        tasks += [lambda: train_task("pds"), lambda: train_task("pds_ckpt")]
    tasks += [lambda: synth_task("paper")] if "paper" in grids else []
    if not args.no_train and not args.no_monai_train:
        tasks += [lambda: train_task("monai")]
    for task in tasks:
        task()
        emit(args, raw, synthesis, versus_unet, components, training, time.perf_counter() - start, load_start)


def emit(
    args: argparse.Namespace,
    raw: dict,
    synthesis: list[dict],
    versus_unet: list[dict],
    components: list[dict],
    training: list[dict],
    wall: float,
    load_start: tuple[float, float, float],
) -> None:
    """Write speed.json and speed.md with whatever has been measured so far."""
    if not synthesis:
        return
    payload = {
        "benchmark": "speed",
        "command": " ".join(["python", "benchmarks/speed.py", *sys.argv[1:]]),
        "machine": machine(),
        "threads": args.threads,
        "wall_seconds": wall,
        "load_average_1_5_15": {"start": load_start, "end": os.getloadavg()},
        "targets": {
            "speedup": f">= {SPEEDUP_TARGET:.0f}x PDS vs MONAI reference, seconds per subject (both directions)",
            "unet_ratio": f"<= {UNET_RATIO_TARGET:.0f}x PDS / unet seconds per subject (both directions)",
            "training_peak_rss_gb": f"<= {PEAK_TARGET_GB:.0f} GB, paper grid, batch 1, fp32, CPU",
            "micro_refiner": "a small fraction of one 3D denoiser pass",
        },
        "psnr": PSNR_NOTE,
        "notes": [
            "Random weights: time does not depend on training.",
            "MONAI grids padded (replicate) to a multiple of 8 once per direction and cropped back.",
            "MONAI seconds marked extrapolated = measured seconds for the first measured_steps DDIM steps "
            "of the 50-step schedule x 50 / measured_steps.",
            "PDS synthesis (default mean mode) = pattern embedding + one denoiser evaluation at t = T-1 (the "
            "posterior-mean readout) + tissue refiner + micro refiner + clamping/masking; unet = one pass of the "
            "same denoiser architecture (no pattern encoder, no refiners).",
            "Synthesis: PDS and MONAI run in one process per grid, interleaved per repeat in alternating order, "
            "so load from other jobs hits both alike; 'min' uses each direction's fastest repeat (least "
            "contended), 'median' the typical one.",
            "Training peak RSS = ru_maxrss of a fresh process running only that pipeline (includes Python/torch).",
        ],
        "synthesis_table": synthesis,
        "unet_table": versus_unet,
        "component_table": components,
        "training_table": training,
        "results": raw,
    }
    md = write_results(args.out, "speed", payload, synthesis)
    m = payload["machine"]
    lines = [
        f"Measured {m['date']} on {m['cpu']} ({m['cores']} cores, torch.set_num_threads({args.threads})), "
        f"torch {m['torch']}. Benchmark wall time {wall / 60:.1f} min. "
        f"Command: `{payload['command']}`. Load average (1 min) at start/end: "
        f"{load_start[0]:.1f} / {payload['load_average_1_5_15']['end'][0]:.1f} on a machine shared with other "
        "jobs, so times carry contention noise; FLOPs are exact.",
        "",
        "### Synthesis of one subject (both directions), random weights",
        "",
        f"Target: PDS ≥ {SPEEDUP_TARGET:.0f}× faster than the MONAI reference. PSNR: {PSNR_NOTE}. "
        "Stage-1 params: PDS denoiser + conditioning + pattern encoder; MONAI DiffusionModelUNet.",
        "",
        *markdown_table(synthesis),
        "",
        f"### PDS against the unet baseline (same process, interleaved); target ≤ {UNET_RATIO_TARGET:.0f}×",
        "",
        *markdown_table(versus_unet),
        "",
        "### Per-component cost of PDS (batch 1, median time of one forward pass, FLOPs by torch's counter)",
        "",
        *markdown_table(components),
    ]
    if training:
        lines += [
            "",
            f"### Training step at the paper grid (batch 1 per direction, fp32, CPU); target peak ≤ "
            f"{PEAK_TARGET_GB:.0f} GB",
            "",
            "One optimiser step = both directions' losses, backward, grad-norm clip, AdamW. Peak RSS of a "
            "fresh process (includes Python + torch, ≈ the 'before' column).",
            "",
            *markdown_table(training),
        ]
    lines += ["", *(f"- {n}" for n in payload["notes"])]
    md.write_text("\n".join(lines) + "\n")
    log(f"wrote {md} and speed.json ({wall / 60:.1f} min so far)")


if __name__ == "__main__":
    main()
