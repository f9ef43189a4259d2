"""Learning curves: validation PSNR/SSIM of `pds` and `unet` against the total optimiser-step budget.

For each budget B (optimiser steps, batch 1 per direction) one fresh run per model is trained on one fold of
the benchmark split, with equal budgets as in `pds benchmark`: PDS trains stage 1 for ``stage1_share`` × B
steps and its refiners for the rest (the `cpu` preset's 400 + 100 = 80 / 20 split); `unet` trains B steps.
Each run is validated once, at its end, by the same validation code as `pds train` (EMA weights, the fold's
validation subjects, PDS in its default synthesis mode): the curve is the model a user gets for that budget,
never a test-set number. A user reads from it how long to train and whether the gap closes or opens.

Usage:
  python benchmarks/learning_curves.py PREPARED_DIR WORK_DIR --budgets 100 250 500 1000 \\
      --out benchmarks/results/learning_curves [--fold 0 --folds 3 --models pds unet --config X.yaml]
Runs already trained in WORK_DIR are reused, so the command can be re-run to add budgets.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, write_results

MODELS = ("pds", "unet")


def log(msg: str) -> None:
    print(f"[curves {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def budget_config(base: dict, budget: int, stage1_share: float) -> dict:
    """The base YAML with both stages' steps set from ``budget``; validation and checkpoints at the end only."""
    stage1 = max(1, round(budget * stage1_share))
    stage2 = max(1, budget - stage1)
    out = json.loads(json.dumps(base))
    training = out.setdefault("training", {})
    for stage, steps in (("stage1", stage1), ("stage2", stage2)):
        section = training.setdefault(stage, {})
        section |= {"steps": steps, "validate_every": steps, "checkpoint_every": steps}
        section["warmup_steps"] = min(section.get("warmup_steps", 20 if stage == "stage1" else 10), steps // 10)
    # one-stage baselines get stage 1 + stage 2 steps (the default `baselines.budget: pds-total`)
    return out


def final_validation(run_dir: Path, model: str) -> dict[str, float]:
    """The last validation row of the run's final stage (stage 2 for PDS, stage 1 for unet)."""
    stage = "stage2" if model == "pds" and (run_dir / "stage2").is_dir() else "stage1"
    rows = list(csv.DictReader((run_dir / stage / "logs" / "val.csv").read_text().splitlines()))
    if not rows:
        raise SystemExit(f"{run_dir}: no validation row in {stage}/logs/val.csv")
    return {k: float(v) for k, v in rows[-1].items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("prepared_dir", type=Path)
    parser.add_argument("work_dir", type=Path, help="where the runs are trained (reused when present)")
    parser.add_argument("--budgets", type=int, nargs="+", default=[100, 250, 500, 1000])
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--fold", type=int, default=0)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--config", type=Path, default=None, help="YAML layered over the preset")
    parser.add_argument("--stage1-share", type=float, default=0.8)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/learning_curves"))
    args = parser.parse_args()
    if any(b < 2 for b in args.budgets):
        raise SystemExit("--budgets: every budget must be >= 2 optimiser steps")

    from pds_mri.workflows.run import optimiser_steps
    from pds_mri.workflows.train import TrainOptions, run_train

    base = yaml.safe_load(args.config.read_text()) if args.config else {}
    rows, raw = [], []
    for budget in sorted(set(args.budgets)):
        config_path = args.work_dir / f"budget-{budget}.yaml"
        config_path.parent.mkdir(parents=True, exist_ok=True)
        config_path.write_text(yaml.safe_dump(budget_config(base, budget, args.stage1_share)))
        for model in args.models:
            run_dir = args.work_dir / f"{model}-{budget}"
            if not (run_dir / "MODEL_CARD.md").is_file():
                log(f"training {model} with a budget of {budget} steps -> {run_dir}")
                started = time.perf_counter()
                run_train(
                    TrainOptions(
                        args.prepared_dir,
                        run_dir,
                        preset=args.preset,
                        config=config_path,
                        model=model,
                        resume=(run_dir / "config.yaml").is_file(),
                        seed=args.seed,
                        fold=args.fold,
                        folds=args.folds,
                    )
                )
                log(f"{model} {budget}: {time.perf_counter() - started:.0f} s")
            val = final_validation(run_dir, model)
            steps = optimiser_steps(run_dir)
            raw.append({"model": model, "budget": budget, "optimiser_steps": steps, "validation": val})
            rows.append(
                {
                    "model": model,
                    "budget (steps)": budget,
                    "stage steps": " + ".join(str(v) for v in steps.values()),
                    "val PSNR fMRI→dMRI": f"{val['fmri2dmri/psnr']:.2f}",
                    "val PSNR dMRI→fMRI": f"{val['dmri2fmri/psnr']:.2f}",
                    "val SSIM fMRI→dMRI": f"{val['fmri2dmri/ssim']:.4f}",
                    "val SSIM dMRI→fMRI": f"{val['dmri2fmri/ssim']:.4f}",
                }
            )
    payload = {
        "benchmark": "learning_curves",
        "command": " ".join(["python", "benchmarks/learning_curves.py", *sys.argv[1:]]),
        "machine": machine(),
        "fold": args.fold,
        "folds": args.folds,
        "seed": args.seed,
        "stage1_share": args.stage1_share,
        "note": "validation subjects of the fold (never its test subjects), one validation at the end of each run",
        "results": raw,
    }
    write_results(args.out, "learning_curves", payload, rows)
    plot(raw, args.out / "learning_curves.png")
    log(f"wrote {args.out}/learning_curves.json, .md and .png")


def plot(raw: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for ax, metric in zip(axes, ("psnr", "ssim"), strict=True):
        for model in dict.fromkeys(r["model"] for r in raw):
            for direction, style in (("fmri2dmri", "-o"), ("dmri2fmri", "--s")):
                key = f"{direction}/{metric}"
                pts = sorted((r["budget"], r["validation"][key]) for r in raw if r["model"] == model)
                ax.plot(*zip(*pts, strict=True), style, label=f"{model} {direction}")
        ax.set_xscale("log")
        ax.set_xlabel("optimiser steps (total, batch 1 per direction)")
        ax.set_ylabel(f"validation {metric.upper()}" + (" (dB)" if metric == "psnr" else ""))
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("Learning curves: equal budgets, validation subjects of one fold")
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
