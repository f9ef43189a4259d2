"""Sampler steps vs quality of a trained PDS run: is the default step count enough, and how far is a
posterior sample from the `mean` mode's one-evaluation readout?

First the `mean` mode (the default: one denoiser evaluation), then, for each step count, one `sample`-mode
posterior sample (and with --mean-of K the voxel-wise mean of K samples): synthesise the run's test subjects
(split.json "test", or --subjects of them) in both directions without the diagnosis, with `pds synthesize`'s
code, and score them with `pds evaluate`'s code.
Writes steps_sweep.json + steps_sweep.md (PSNR / SSIM per direction, network seconds per subject).

    python benchmarks/steps_sweep.py RUN_DIR PREPARED_DIR --steps 1 2 4 8 16 50 --subjects 10

The run's own sampler (config.yaml, model.diffusion) is used; only the step count changes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from _common import machine, write_results
from pds_mri.training.data import DIRECTIONS
from pds_mri.training.split import read_split
from pds_mri.workflows.evaluate import run_evaluate
from pds_mri.workflows.run import load_run_config
from pds_mri.workflows.synthesize import SynthesizeOptions, run_synthesize


def sweep(
    run_dir: Path, prepared_dir: Path, steps: list[int], subjects: int | None, seed: int, mean_of: int = 1
) -> list[dict]:
    test = read_split(run_dir)["test"]
    if not test:
        raise SystemExit(f"{run_dir}: its split has no test subjects (train it with --fold/--folds)")
    test = test[:subjects] if subjects else test
    rows = []
    with tempfile.TemporaryDirectory(prefix="pds-steps-") as tmp:
        settings = [("mean", 8, 1)] + [("sample", n, 1) for n in steps]
        settings += [("sample", n, mean_of) for n in steps if mean_of > 1]
        for mode, n, samples in settings:
            for direction in DIRECTIONS:
                tag = f"{mode}{n}x{samples}-{direction}"
                synth, scores = Path(tmp) / f"s-{tag}", Path(tmp) / f"e-{tag}"
                options = SynthesizeOptions(
                    run_dir,
                    prepared_dir,
                    synth,
                    direction=direction,
                    steps=n,
                    samples=samples,
                    seed=seed,
                    use_diagnosis=False,
                    participant_labels=tuple(test),
                    mode=mode,
                )
                written = run_synthesize(options)
                seconds = [json.loads((synth / r["sidecar"]).read_text())["SynthesisSeconds"] for r in written]
                summary = run_evaluate(synth, prepared_dir, scores)["summary"][direction]
                sidecar = json.loads((synth / written[0]["sidecar"]).read_text())
                rows.append(
                    {
                        "mode": mode,
                        "steps": "—" if mode == "mean" else n,
                        "samples averaged": samples if mode == "sample" else 1,
                        "denoiser evaluations": sidecar["NetworkEvaluations"],
                        "direction": direction,
                        "n": summary["psnr"]["n"],
                        "psnr": round(summary["psnr"]["mean"], 3),
                        "psnr_std": round(summary["psnr"]["std"], 3),
                        "ssim": round(summary["ssim"]["mean"], 4),
                        "ssim_std": round(summary["ssim"]["std"], 4),
                        "seconds_per_subject": round(statistics.fmean(seconds), 3),
                    }
                )
                print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path, help="a trained PDS run with test subjects (e.g. a benchmark fold)")
    parser.add_argument("prepared_dir", type=Path)
    parser.add_argument("--steps", type=int, nargs="+", default=[1, 2, 4, 8, 16, 50])
    parser.add_argument("--subjects", type=int, default=None, help="only the first N test subjects")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mean-of", type=int, default=1, help="also the voxel-wise mean of K samples per step count")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    config = load_run_config(args.run_dir)
    rows = sweep(args.run_dir, args.prepared_dir, sorted(set(args.steps)), args.subjects, args.seed, args.mean_of)
    payload = {
        "machine": machine(),
        "run_dir": str(args.run_dir.resolve()),
        "prepared_dir": str(args.prepared_dir.resolve()),
        "sampler": config.model.diffusion.model_dump(mode="json"),
        "default_steps": config.model.diffusion.steps,
        "protocol": "test subjects of the run's split, no diagnosis, seed fixed; the mean mode's readout, then "
        "one posterior sample (or the mean of --mean-of samples) per step count; pds evaluate metrics",
        "rows": rows,
    }
    write_results(args.out, "steps_sweep", payload, rows)


if __name__ == "__main__":
    main()
