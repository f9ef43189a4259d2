"""The run page (a `pds train` directory): summary, every evaluation and unscored synthesis inside it,
diagnoses, training curves, model card, split and config."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pds_mri.io.result_files import EvaluationMetrics
from pds_mri.io.run_layout import METRICS_JSON, SYNTH_TSV, RunDir
from pds_mri.report.format import sig
from pds_mri.report.html import Page, definitions, image, markdown, note, pre, table
from pds_mri.report.mosaic import read_log
from pds_mri.report.pages.evaluation import add_evaluation
from pds_mri.report.pages.synthesis import add_synthesis
from pds_mri.report.read import read_json_or_none, read_result, read_text
from pds_mri.report.sections.diagnosis import add_diagnoses


def run_page(run: Path, also: Sequence[Path] = ()) -> Page:
    """The run's page; `also`: synthesis directories outside the run (e.g. its imputations) shown with it."""
    page = Page(f"pds-mri report — run {run.resolve().name}", f"run directory {run.resolve()}")
    layout = RunDir(run)
    split = read_json_or_none(layout.split)
    logs = {
        stage.name: (read_log(stage / "logs" / "train.csv"), read_log(stage / "logs" / "val.csv"))
        for stage in sorted(p for p in run.glob("stage*") if p.is_dir())
    }
    summary: list[tuple[str, Any]] = [("run directory", str(run.resolve()))]
    if isinstance(split, dict):
        summary += [
            (f"{k} subjects", len(split[k])) for k in ("train", "val", "test") if isinstance(split.get(k), list)
        ]
    for stage, (train, val) in logs.items():
        steps = int(max((r["step"] for r in train), default=0))
        best = max((r["psnr"] for r in val if r.get("psnr", float("nan")) == r.get("psnr")), default=None)
        summary.append((f"{stage}", f"{steps} steps logged; best validation PSNR {sig(best)} dB"))
    page.add("Summary", definitions(summary))

    evaluations = sorted(run.rglob(METRICS_JSON))  # a damaged one gets its section, saying what is wrong
    evaluated = set()
    for metrics_path in evaluations:
        payload = read_result(metrics_path, EvaluationMetrics)[0] or {}
        evaluated.add(os.path.normpath(str((payload.get("inputs") or {}).get("synth_dir", ""))))
        add_evaluation(page, metrics_path, f"Evaluation ({metrics_path.parent.relative_to(run)})")
    for synth_tsv in sorted(run.rglob(SYNTH_TSV)):
        if os.path.normpath(str(synth_tsv.parent.resolve())) not in evaluated:
            add_synthesis(page, synth_tsv.parent, f"Synthesis ({synth_tsv.parent.relative_to(run)})")
    for synth_dir in also:
        add_synthesis(page, Path(synth_dir), f"Synthesis ({Path(synth_dir).name})")
    if not evaluations:
        page.add(
            "Metrics",
            note(
                "No evaluation in this run directory. Synthesise subjects that have the target modality "
                "(`pds synthesize RUN PREPARED RUN/synth --direction fmri2dmri`), score them with "
                "`pds evaluate RUN/synth PREPARED RUN/eval`, then run `pds report` again."
            ),
        )

    add_diagnoses(page, run)

    from pds_mri.report.mosaic import training_curves_png

    curves = training_curves_png(logs) if logs else None
    page.add(
        "Training curves",
        image(curves, "training curves", "Training loss and validation PSNR/SSIM (EMA weights) per stage")
        if curves
        else note("no training logs (stage*/logs/train.csv, val.csv) found"),
    )
    card = read_text(layout.model_card)
    page.add("Model card", markdown(card) if card else note("no MODEL_CARD.md (training has not finished?)"))
    page.add("Split", split_section(split))
    config = read_text(layout.config)
    page.add("Config", pre(config) if config else note("no config.yaml"))
    return page


def split_section(split: Any) -> str:
    """split.json: its settings (seed, fold, ...) and each set's subjects."""
    if not isinstance(split, dict):
        return note("no readable split.json")
    meta = [(k, v) for k, v in split.items() if not isinstance(v, list)]
    counts = [
        {"set": k, "subjects": len(v), "participants": " ".join(map(str, v))}
        for k, v in split.items()
        if isinstance(v, list)
    ]
    body = table(counts, ["set", "subjects", "participants"])
    return (definitions(meta) if meta else "") + body
