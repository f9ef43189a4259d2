"""`pds demo`: the whole pipeline on the embedded simulated cohort, small enough for 2 CPU cores.

simulate → prepare (+ its QC pages) → train a tiny PDS on one fold of a subject split → synthesise what each
subject lacks → synthesise the fold's test subjects in both directions with PDS and the unet baseline → evaluate
both → a short NC/MCI/AD diagnosis (real maps, 2 folds) → HTML report (with the imputed subjects).

The held-out subjects are the split's TEST set: never trained on and never used to pick a checkpoint (the
validation subject picks the best checkpoint, so scoring it would flatter the model).
"""

from __future__ import annotations

import shutil
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import yaml
from rich.table import Table

from pds_mri.io.run_layout import RunDir
from pds_mri.progress import console
from pds_mri.report.format import fixed

#: A few minutes of CPU training: enough to see the method work end to end, not a trained model.
DEMO_TRAINING = {
    "training": {
        "stage1": {"steps": 60, "warmup_steps": 5, "validate_every": 60, "checkpoint_every": 30},
        "stage2": {"steps": 15, "warmup_steps": 2, "validate_every": 15, "checkpoint_every": 15},
        "max_val_subjects": 1,
    },
}


#: Folds of the demo's split: fold 0's test set (about a quarter of the paired subjects) is held out.
DEMO_FOLDS = 4


def held_out_subjects(split: dict[str, list[str]]) -> tuple[str, ...]:
    """The split's test subjects: what the demo scores (never its validation subject, which chose the checkpoint)."""
    from pds_mri.errors import PdsError

    test = tuple(split.get("test") or ())
    if not test:
        raise PdsError("the demo's split has no test subject; simulate more subjects (--subjects)")
    seen = set(split.get("train") or ()) | set(split.get("val") or ())
    if seen & set(test):
        raise PdsError(f"test subject(s) {sorted(seen & set(test))} also in training or validation")
    return test


def run_demo(out_dir: Path, n_subjects: int = 12, seed: int = 0) -> None:
    from pds_mri.report.figures import maps_by_diagnosis_figure, synthesis_figure
    from pds_mri.training.split import read_split
    from pds_mri.workflows.diagnose import DiagnoseOptions, run_diagnose
    from pds_mri.workflows.evaluate import run_evaluate
    from pds_mri.workflows.prepare import PrepareOptions, run_prepare
    from pds_mri.workflows.report import run_report
    from pds_mri.workflows.simulate import run_simulate
    from pds_mri.workflows.synthesize import SynthesizeOptions, run_synthesize
    from pds_mri.workflows.train import TrainOptions, run_train

    out_dir = Path(out_dir)
    start = time.perf_counter()
    bids_dir, prepared_dir, run_dir = out_dir / "bids", out_dir / "prepared", out_dir / "run"
    unet_dir = out_dir / "run_unet"
    console.rule("1/6 simulate a BIDS cohort")
    run_simulate(bids_dir, n_subjects, seed, "cpu", missing_fmri=0.15, missing_dmri=0.15, overwrite=True)
    console.rule("2/6 prepare maps on the model grids")
    rows = run_prepare(PrepareOptions(bids_dir=bids_dir, out_dir=prepared_dir, preset="cpu"))
    console.print(summary_table(rows))
    prepared_report = run_report(prepared_dir)
    figures = [maps_by_diagnosis_figure(prepared_dir, rows, out_dir / "figures" / "maps_by_diagnosis.png")]

    console.rule("3/6 train a tiny PDS (stage 1 diffusion, stage 2 refiners)")
    config = out_dir / "demo_config.yaml"
    config.write_text(yaml.safe_dump(DEMO_TRAINING))
    for stale in (run_dir, unet_dir):
        if stale.exists():
            shutil.rmtree(stale)  # the demo always starts fresh runs
    run_train(TrainOptions(prepared_dir, run_dir, preset="cpu", config=config, seed=seed, fold=0, folds=DEMO_FOLDS))

    console.rule("4/6 synthesise the missing modality")
    missing = run_synthesize(SynthesizeOptions(run_dir, prepared_dir, out_dir / "synthesized", samples=2, seed=seed))
    console.print(f"synthesised the missing modality of {len(missing)} subject(s): {out_dir / 'synthesized'}")

    console.rule("5/6 evaluate the test subjects (never seen in training) against the unet baseline")
    held_out = held_out_subjects(read_split(run_dir))
    unet = TrainOptions(prepared_dir, unet_dir, preset="cpu", config=config, seed=seed, model="unet", stage="1")
    run_train(replace(unet, fold=0, folds=DEMO_FOLDS))  # the same split: the same test subjects
    summaries = {}
    for name, run, samples in (("pds", run_dir, 3), ("unet", unet_dir, 1)):
        synth = out_dir / "held_out" / name
        shown = []
        for direction in ("fmri2dmri", "dmri2fmri"):
            options = SynthesizeOptions(run, prepared_dir, synth, direction, samples=samples, seed=seed)
            shown += run_synthesize(replace(options, participant_labels=held_out))
        if name == "pds":
            figures.append(synthesis_figure(prepared_dir, synth, shown, out_dir / "figures" / "synthesis.png"))
        summaries[name] = run_evaluate(synth, prepared_dir, run_dir / "evaluation" / name)
    console.print(comparison_table(summaries))
    console.rule("6/6 a short NC / MCI / AD diagnosis (real maps, 2 folds; `pds benchmark` + `pds diagnose` for more)")
    diagnosis = DiagnoseOptions(
        prepared_dir, run_dir / "diagnosis", classifier="logreg", folds=2, missing=0.0, seed=seed
    )
    run_diagnose(diagnosis)
    report = run_report(run_dir, syntheses=[out_dir / "synthesized"])  # the imputed subjects too
    for figure in figures:
        console.print(f"figure: {figure}")
    console.print(f"model card: {RunDir(run_dir).model_card}")
    console.print(f"HTML report: {report}")
    console.print(f"QC pages of the prepared subjects: {prepared_report}")
    console.print(f"demo finished in {time.perf_counter() - start:.0f} s; outputs in {out_dir}")


def comparison_table(summaries: dict[str, dict]) -> Table:
    """Mean PSNR / SSIM per model and direction on the held-out subjects (a demo, not a benchmark)."""
    table = Table(title="Held-out subjects (demo-length training: not a benchmark)")
    for column in ("model", "direction", "n", "PSNR (dB)", "SSIM"):
        table.add_column(column)
    for name, payload in summaries.items():
        for direction, stats in sorted(payload.get("summary", {}).items()):
            psnr, ssim = stats.get("psnr", {}), stats.get("ssim", {})
            table.add_row(
                name, direction, str(psnr.get("n", "")), fixed(psnr.get("mean"), 2), fixed(ssim.get("mean"), 3)
            )
    return table


def summary_table(rows: list[dict]) -> Table:
    table = Table(title="Prepared cohort")
    for column in ("diagnosis", "subjects", "fMRI + dMRI", "fMRI only", "dMRI only"):
        table.add_column(column, justify="right" if column != "diagnosis" else "left")
    order = ("NC", "MCI", "AD", "unknown")
    by_dx = Counter(r["diagnosis"] or "unknown" for r in rows)
    for dx in sorted(by_dx, key=lambda d: order.index(d) if d in order else len(order)):
        group = [r for r in rows if (r["diagnosis"] or "unknown") == dx]
        both = sum(bool(r.get("fmri")) and bool(r.get("dmri")) for r in group)
        fonly = sum(bool(r.get("fmri")) and not r.get("dmri") for r in group)
        donly = sum(bool(r.get("dmri")) and not r.get("fmri") for r in group)
        table.add_row(dx, str(len(group)), str(both), str(fonly), str(donly))
    return table
