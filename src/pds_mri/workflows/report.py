"""`pds report PATH [--out FILE]`: one self-contained HTML file (images embedded, no script, opens offline).

PATH may be
  a run directory (`pds train`): model card, config, split, training curves, and every evaluation
      (metrics.json of `pds evaluate`) or synthesis (synthesized.tsv) found inside it, with slice mosaics;
  a benchmark directory (`pds benchmark`): results.json's `table` rows (and its other entries), results.md,
      and every PNG under figures/;
  in a run or benchmark directory, every `pds diagnose` output found inside it (diagnosis.json) becomes a
      Diagnosis section (e.g. `pds diagnose PREPARED BENCH/diagnosis --benchmark BENCH`);
  an evaluation directory (`pds evaluate`) or a synthesis directory (`pds synthesize`) on its own.
Readers are tolerant: a missing or unreadable piece becomes a note in the report, not an error.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeGuard

import numpy as np

from pds_mri import __version__
from pds_mri.errors import InputError, PdsError
from pds_mri.io.atomic import write_text
from pds_mri.io.layout import key_of
from pds_mri.progress import console
from pds_mri.report.html import Page, definitions, details, esc, image, markdown, note, paragraph, pre, table

REPORT_NAME = "report.html"
MOSAIC_SUBJECTS = 3  # per direction
MAX_FIGURES = 200
SUMMARY_METRICS = (
    ("PSNR (dB)", "psnr"),
    ("SSIM", "ssim"),
    ("MAE", "mae"),
    ("pattern PSNR", "pattern_psnr"),
    ("pattern MAE", "pattern_mae"),
    ("GM MAE", "gm_mae"),
    ("WM MAE", "wm_mae"),
    ("CSF MAE", "csf_mae"),
    ("uncertainty", "uncertainty_mean"),
)
SUBJECT_COLUMNS = (
    "participant_id",
    "diagnosis",
    "direction",
    "psnr",
    "ssim",
    "mae",
    "pattern_psnr",
    "pattern_mae",
    "gm_mae",
    "wm_mae",
    "csf_mae",
    "uncertainty_mean",
)


def run_report(path: Path, out: Path | None = None) -> Path:
    """Write the report of PATH to `out` (default PATH/report.html), atomically; print and return its path."""
    path = Path(path)
    if not path.is_dir():
        raise PdsError(f"{path}: not a directory; give a run directory (`pds train`) or a benchmark directory")
    kind = detect_kind(path)
    builders: dict[str, Callable[[Path], Page]] = {
        "benchmark": benchmark_page,
        "run": run_page,
        "evaluation": evaluation_page,
        "synthesis": synthesis_page,
    }
    page = builders[kind](path)
    page.add("About", about(path, kind))
    out = Path(out) if out is not None else path / REPORT_NAME
    write_text(out, page.render())
    console.print(f"{kind} report written")
    print(out)
    return out


def detect_kind(path: Path) -> str:
    if (path / "results.json").is_file() or (path / "results.md").is_file():
        return "benchmark"
    if (path / "config.yaml").is_file() and any((path / n).exists() for n in ("split.json", "MODEL_CARD.md", "stage1")):
        return "run"
    if (path / "metrics.json").is_file():
        return "evaluation"
    if (path / "synthesized.tsv").is_file():
        return "synthesis"
    raise PdsError(
        f"{path}: neither a run directory (config.yaml + split.json from `pds train`), a benchmark directory "
        "(results.json / results.md from `pds benchmark`), nor an evaluation (metrics.json) or synthesis "
        "(synthesized.tsv) directory"
    )


# --------------------------------------------------------------------------------------------------- run


def run_page(run: Path) -> Page:
    page = Page(f"pds-mri report — run {run.resolve().name}", f"run directory {run.resolve()}")
    split = _read_json(run / "split.json")
    logs = {
        stage.name: (_log(stage / "logs" / "train.csv"), _log(stage / "logs" / "val.csv"))
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
        summary.append((f"{stage}", f"{steps} steps logged; best validation PSNR {_fmt(best)} dB"))
    page.add("Summary", definitions(summary))

    evaluations = sorted(p for p in run.rglob("metrics.json") if _is_evaluation(p))
    evaluated = set()
    for metrics_path in evaluations:
        payload = _read_json(metrics_path) or {}
        evaluated.add(os.path.normpath(str(payload.get("inputs", {}).get("synth_dir", ""))))
        add_evaluation(page, metrics_path, f"Evaluation ({metrics_path.parent.relative_to(run)})")
    for synth_tsv in sorted(run.rglob("synthesized.tsv")):
        if os.path.normpath(str(synth_tsv.parent.resolve())) not in evaluated:
            add_synthesis(page, synth_tsv.parent, f"Synthesis ({synth_tsv.parent.relative_to(run)})")
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
    card = _read_text(run / "MODEL_CARD.md")
    page.add("Model card", markdown(card) if card else note("no MODEL_CARD.md (training has not finished?)"))
    page.add("Split", split_section(split))
    config = _read_text(run / "config.yaml")
    page.add("Config", pre(config) if config else note("no config.yaml"))
    return page


def split_section(split: Any) -> str:
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


# ------------------------------------------------------------------------------------------ evaluation


def evaluation_page(path: Path) -> Page:
    page = Page(f"pds-mri report — evaluation {path.resolve().name}", f"evaluation directory {path.resolve()}")
    if not _is_evaluation(path / "metrics.json"):  # the page's one subject: refuse it rather than show a note
        raise InputError(path / "metrics.json", "not a readable `pds evaluate` metrics.json; run `pds evaluate` again")
    add_evaluation(page, path / "metrics.json", "Evaluation")
    return page


def add_evaluation(page: Page, metrics_path: Path, heading: str) -> None:
    """Summary table, per-subject table, skipped rows, mosaics and protocol of one `pds evaluate` output."""
    from pds_mri.workflows.evaluate import format_stat

    payload = _read_json(metrics_path)
    if not _is_evaluation_payload(payload):
        page.add(heading, note(f"{metrics_path}: not a readable `pds evaluate` metrics.json"))
        return
    summary_rows = []
    for direction, stats in payload.get("summary", {}).items():
        row: dict[str, Any] = {"direction": direction, "subjects": stats.get("subjects")}
        row |= {label: format_stat(stats.get(key)) for label, key in SUMMARY_METRICS if key in stats}
        summary_rows.append(row)
    parts = [
        paragraph("Mean ± standard deviation over subjects (inside the brain mask, intensities on the [0, 1] scale)."),
        table(summary_rows, caption="synthesis quality per direction"),
    ]
    rows = payload.get("rows", [])
    parts.append("<h3>Per subject</h3>" + table(rows, [c for c in SUBJECT_COLUMNS if any(c in r for r in rows)]))
    skipped = payload.get("skipped") or {}
    if skipped.get("count"):
        parts.append(f"<h3>Not scored ({esc(skipped['count'])})</h3>" + table(skipped.get("rows", [])))
    parts.append("<h3>Slices</h3>" + evaluation_mosaics(payload, metrics_path))
    parts.append(calibration_section(payload))
    parts.append("<h3>Disease signal: AD − NC, real vs synthetic</h3>" + difference_maps(payload, metrics_path))
    protocol = payload.get("protocol", {})
    flat = [(f"{k}.{kk}", vv) for k, v in protocol.items() if isinstance(v, dict) for kk, vv in v.items()]
    flat = [(k, v) for k, v in protocol.items() if not isinstance(v, dict)] + flat
    parts.append("<h3>Protocol</h3>" + definitions(flat))
    page.add(heading, "\n".join(parts))


def calibration_section(payload: dict) -> str:
    """How far to trust the std maps: pooled Spearman ρ(std, |error|) and ±kσ coverage, and the calibration plot."""
    from pds_mri.report.figures import calibration_png

    pooled = (payload.get("calibration") or {}).get("directions") or {}
    if not pooled:
        return "<h3>Uncertainty</h3>" + note("no std maps among these syntheses (synthesise with --samples N > 1)")
    rows = [
        {
            "direction": direction,
            "subjects": numbers.get("subjects"),
            **{f"ρ {region}": (numbers.get(region) or {}).get("spearman") for region in ("brain", "interior", "edge")},
            "±1σ coverage (0.683)": (numbers.get("brain") or {}).get("coverage_1sd"),
            "±2σ coverage (0.954)": (numbers.get("brain") or {}).get("coverage_2sd"),
        }
        for direction, numbers in pooled.items()
    ]
    parts = [table(rows, caption="uncertainty, brain voxels pooled over subjects (edge: mask-boundary voxels)")]
    png = calibration_png(pooled)
    if png is not None:
        parts.append(image(png, "uncertainty calibration", "binned predicted std vs observed |error|"))
    return "<h3>Uncertainty</h3>" + "\n".join(parts)


def evaluation_mosaics(payload: dict, metrics_path: Path) -> str:
    from pds_mri.report.mosaic import direction_panels, mosaic_png
    from pds_mri.training.data import read_cohort

    inputs = payload.get("inputs", {})
    synth_dir = _existing_dir(inputs.get("synth_dir"), metrics_path.parent)
    prepared_dir = _existing_dir(inputs.get("prepared_dir"), metrics_path.parent)
    if synth_dir is None or prepared_dir is None:
        return note("slices unavailable: the synthesis or prepared directory named in metrics.json is not there")
    try:
        cohort = {key_of(r): r for r in read_cohort(prepared_dir)}
    except PdsError as exc:
        return note(f"slices unavailable: {exc}")
    out = []
    for direction in sorted({r["direction"] for r in payload["rows"]}):
        chosen = sorted((r for r in payload["rows"] if r["direction"] == direction), key=key_of)
        for row in chosen[:MOSAIC_SUBJECTS]:
            try:
                panels, mask = direction_panels(
                    prepared_dir,
                    cohort[key_of(row)],
                    direction,
                    [("synthesis", synth_dir / row["synthesis"])],
                    synth_dir / row["uncertainty"] if row.get("uncertainty") else None,
                )
                png = mosaic_png(panels, mask=mask)
            except Exception as exc:  # a report shows what it can
                out.append(note(f"{row['participant_id']} {direction}: slices unavailable ({exc})"))
                continue
            caption = (
                f"{row['participant_id']} ({row.get('diagnosis', 'n/a')}) {direction}: "
                f"PSNR {_fmt(row.get('psnr'))} dB, "
                f"SSIM {_fmt(row.get('ssim'))}, MAE {_fmt(row.get('mae'))}; target model grid, axial slices; "
                "error on the [0, 1] scale inside the brain mask"
            )
            out.append(image(png, f"{row['participant_id']} {direction}", caption))
    return "\n".join(out) or note("no rows to show")


def difference_maps(payload: dict, metrics_path: Path) -> str:
    """Per direction: the AD − NC difference of group-mean maps in the real targets and in the syntheses of the
    same subjects, side by side on one symmetric scale, with the regional ratios of group_differences."""
    import torch

    from pds_mri.evaluation.features import read_grid_map
    from pds_mri.evaluation.group_difference import mean_difference_map
    from pds_mri.evaluation.metrics import to_unit

    def _unit(x: np.ndarray) -> np.ndarray:  # [-1, 1] maps on the [0, 1] protocol scale
        return to_unit(torch.from_numpy(x)).numpy()

    from pds_mri.report.mosaic import mosaic_png
    from pds_mri.training.data import direction_modalities, read_cohort

    inputs = payload.get("inputs", {})
    synth_dir = _existing_dir(inputs.get("synth_dir"), metrics_path.parent)
    prepared_dir = _existing_dir(inputs.get("prepared_dir"), metrics_path.parent)
    if synth_dir is None or prepared_dir is None:
        return note(
            "difference maps unavailable: the synthesis or prepared directory named in metrics.json is not there"
        )
    cohort = {key_of(r): r for r in read_cohort(prepared_dir)}
    ratios = (payload.get("group_differences") or {}).get("rows") or []
    out = []
    for direction in sorted({r["direction"] for r in payload["rows"]}):
        rows = [r for r in payload["rows"] if r["direction"] == direction and r.get("diagnosis") in ("AD", "NC")]
        _, target = direction_modalities(direction)
        try:
            real = [_unit(read_grid_map(prepared_dir / str(cohort[key_of(r)][target]))) for r in rows]
            synth = [_unit(read_grid_map(synth_dir / r["synthesis"])) for r in rows]
            groups = [r["diagnosis"] for r in rows]
            d_real = mean_difference_map(real, groups, "AD", "NC")
            d_synth = mean_difference_map(synth, groups, "AD", "NC")
        except (ValueError, KeyError, OSError, PdsError) as exc:
            out.append(note(f"{direction}: difference maps unavailable ({exc})"))
            continue
        mask = read_grid_map(prepared_dir / str(cohort[key_of(rows[0])][f"{target}_mask"])) > 0
        # a robust symmetric scale: the mask edge, where one group's mean meets the background, would set the max
        inside = np.concatenate([np.abs(d_real[mask]), np.abs(d_synth[mask])])
        top = float(max(np.percentile(inside, 99) if inside.size else 0.0, 1e-6))
        png = mosaic_png(
            [("real AD − NC", d_real), ("synthetic AD − NC", d_synth)], mask=mask, intensity_range=(-top, top)
        )
        kept = [
            f"{g['region']} {g['ratio']:.2f}"
            for g in ratios
            if g.get("direction") == direction and g.get("contrast") == "AD-NC" and g.get("ratio") is not None
        ]
        caption = (
            f"{direction}: group-mean difference AD − NC ({groups.count('AD')} AD, {groups.count('NC')} NC) on the "
            f"[0, 1] scale, grey from −{top:.3f} (black) to +{top:.3f} (white; the 99th percentile of |difference| "
            "in the brain mask, larger values saturate). Ratio synthetic / real per region: "
            + (", ".join(kept) or "n/a")
        )
        out.append(image(png, f"AD − NC {direction}", caption))
    return "\n".join(out) or note("no AD and NC subjects to compare")


# ------------------------------------------------------------------------------------------- synthesis


def synthesis_page(path: Path) -> Page:
    page = Page(f"pds-mri report — synthesis {path.resolve().name}", f"synthesis directory {path.resolve()}")
    add_synthesis(page, path, "Synthesis")
    return page


def add_synthesis(page: Page, synth_dir: Path, heading: str) -> None:
    """Rows of a synthesized.tsv and, per direction, slices of source | synthesis | uncertainty."""
    from pds_mri.workflows.evaluate import read_synthesized

    try:
        rows = read_synthesized(synth_dir)
    except PdsError as exc:
        page.add(heading, note(str(exc)))
        return
    parts = [
        note("Not scored: no `pds evaluate` output for these syntheses in this directory."),
        note(
            "Mode: mean = the posterior-mean estimate (PDS default: one denoiser evaluation, refined); "
            "sample = stochastic posterior samples; one pass = a regression baseline."
        ),
        table(rows, ["participant_id", "direction", "source", "target", "mode", "synthesis", "uncertainty"]),
    ]
    for direction in sorted({r["direction"] for r in rows}):
        for row in [r for r in rows if r["direction"] == direction][:MOSAIC_SUBJECTS]:
            try:
                png = _synthesis_mosaic(synth_dir, row)
            except Exception as exc:  # a report shows what it can
                parts.append(note(f"{row['participant_id']} {direction}: slices unavailable ({exc})"))
                continue
            parts.append(image(png, f"{row['participant_id']} {direction}", f"{row['participant_id']} {direction}"))
    page.add(heading, "\n".join(parts))


def _synthesis_mosaic(synth_dir: Path, row: dict[str, str]) -> bytes:
    import numpy as np

    from pds_mri.io.nifti import load_nifti
    from pds_mri.report.mosaic import mosaic_png
    from pds_mri.training.data import resample_to

    synth_img = load_nifti(str(synth_dir / row["synthesis"]))
    synthesis = np.asarray(synth_img.dataobj, dtype=np.float32)
    source = None
    sidecar = _read_json(synth_dir / row["sidecar"]) if row.get("sidecar") else None
    if isinstance(sidecar, dict) and sidecar.get("Source") and Path(sidecar["Source"]).is_file():
        source = resample_to(load_nifti(sidecar["Source"]), synth_img)
    panels: list[tuple[str, Any]] = [("source", source), ("synthesis", synthesis)]
    if row.get("uncertainty"):
        panels.append(("uncertainty (std)", np.asarray(load_nifti(str(synth_dir / row["uncertainty"])).dataobj)))
    return mosaic_png(panels, mask=synthesis > -0.99)


# ------------------------------------------------------------------------------------------- benchmark


def benchmark_page(bench: Path) -> Page:
    page = Page(f"pds-mri report — benchmark {bench.resolve().name}", f"benchmark directory {bench.resolve()}")
    results = _read_json(bench / "results.json")
    md = _read_text(bench / "results.md")
    if results is None and md is None:
        raise InputError(bench / "results.json", "neither results.json nor results.md of `pds benchmark` is readable")
    if isinstance(results, dict):
        main_table = results.get("table")
        if _is_table(main_table):
            page.add("Results", table(main_table))
        scalars = [(k, v) for k, v in results.items() if not isinstance(v, (dict, list))]
        if scalars:
            page.add("Summary", definitions(scalars))
        for key, value in results.items():
            if key == "table" and _is_table(value):
                continue
            if _is_table(value):
                page.add(key, table(value))
            elif isinstance(value, dict) and value and all(not isinstance(v, (dict, list)) for v in value.values()):
                page.add(key, definitions(value.items()))
            elif isinstance(value, (dict, list)):
                page.add(key, details(f"{key} (JSON)", pre(json.dumps(value, indent=2, default=str))))
    elif (bench / "results.json").exists():
        page.add("Results", note("results.json is not a readable JSON object"))
    if md:
        page.add("results.md", details("results.md", markdown(md)) if isinstance(results, dict) else markdown(md))
    figures = sorted((bench / "figures").rglob("*.png")) if (bench / "figures").is_dir() else []
    if not figures and isinstance(results, dict) and (bench / "runs").is_dir():
        page.add("Slices", benchmark_mosaics(bench, results))
    if figures:
        shown = [
            image(p.read_bytes(), str(p.relative_to(bench)), str(p.relative_to(bench))) for p in figures[:MAX_FIGURES]
        ]
        if len(figures) > MAX_FIGURES:
            shown.append(note(f"{len(figures) - MAX_FIGURES} more figure(s) under figures/ not shown"))
        page.add("Figures", "\n".join(shown))
    add_diagnoses(page, bench)
    config = _read_text(bench / "config.yaml")
    if config:
        page.add("Config", pre(config))
    if not page.sections:
        page.add("Results", note("no results.json, results.md or figures/ yet (is the benchmark still running?)"))
    return page


def benchmark_mosaics(bench: Path, results: dict[str, Any], fold: str = "fold-0") -> str:
    """Per direction, a few test subjects of one fold: source | real | every model | |error| of the reference
    model | its uncertainty, from `pds benchmark`'s runs/<model>/<fold>/synth-<direction>/ (when it wrote none)."""
    from pds_mri.report.mosaic import direction_panels, mosaic_png
    from pds_mri.training.data import DIRECTIONS, read_cohort
    from pds_mri.workflows.evaluate import read_synthesized

    prepared = _existing_dir(results.get("prepared_dir"), bench)
    if prepared is None:
        return note("slices unavailable: the prepared directory named in results.json is not there")
    try:
        cohort = {key_of(r): r for r in read_cohort(prepared)}
    except PdsError as exc:
        return note(f"slices unavailable: {exc}")
    reference = str(results.get("reference") or "pds")
    names = [m for m in (results.get("models") or {}) if (bench / "runs" / m).is_dir()]
    names += sorted(p.name for p in (bench / "runs").iterdir() if p.is_dir() and p.name not in names)
    names.sort(key=lambda m: m != reference)  # the reference first: its error and uncertainty are shown
    out = []
    for direction in DIRECTIONS:
        per_model: dict[str, tuple[Path, dict[str, dict[str, str]]]] = {}
        for model in names:
            synth_dir = bench / "runs" / model / fold / f"synth-{direction}"
            try:
                per_model[model] = (synth_dir, {key_of(r): r for r in read_synthesized(synth_dir)})
            except PdsError:
                continue
        if not per_model:
            continue
        first_model, (first_dir, first_rows) = next(iter(per_model.items()))
        for pid in sorted(first_rows)[:MOSAIC_SUBJECTS]:
            if pid not in cohort:
                continue
            syntheses = [(m, d / rows[pid]["synthesis"]) for m, (d, rows) in per_model.items() if pid in rows]
            std = first_rows[pid].get("uncertainty")
            try:
                panels, mask = direction_panels(
                    prepared, cohort[pid], direction, syntheses, first_dir / std if std else None
                )
                png = mosaic_png(panels, mask=mask)
            except Exception as exc:  # a report shows what it can
                out.append(note(f"{pid} {direction}: slices unavailable ({exc})"))
                continue
            caption = f"{pid} {direction} ({fold}); absolute error of {first_model} on the [0, 1] scale"
            out.append(image(png, f"{pid} {direction}", caption))
    return "\n".join(out) or note(f"no syntheses under runs/*/{fold}/synth-<direction>/ yet")


# ------------------------------------------------------------------------------------------- diagnosis

DIAGNOSIS_COLUMNS = ("accuracy", "balanced_accuracy", "macro_f1", "auc_ovr")


def add_diagnoses(page: Page, root: Path) -> None:
    """A Diagnosis section per `pds diagnose` output under `root` (not inside a benchmark's runs/)."""
    found = sorted(p for p in root.rglob("diagnosis.json") if "runs" not in p.relative_to(root).parts[:-1])
    for path in found:
        heading = "Diagnosis" if len(found) == 1 else f"Diagnosis ({path.parent.relative_to(root)})"
        page.add(heading, diagnosis_section(path))


def diagnosis_section(path: Path) -> str:
    """NC / MCI / AD protocol table with 95 % CIs, what could not run and why, and the protocol text."""
    result = _read_json(path)
    if not isinstance(result, dict) or not _is_table(result.get("table")):
        return note(f"{path.name} is not a readable `pds diagnose` output")

    rows = [
        _metrics_row({"protocol": r.get("protocol"), "n": r.get("n")}, r, DIAGNOSIS_COLUMNS) for r in result["table"]
    ]
    parts = [
        paragraph(
            f"Classifier {result.get('classifier')} on {result.get('subjects')} subjects "
            f"({_counts(result.get('class_counts'))}); folds: {(result.get('folds') or {}).get('source', 'n/a')}."
        ),
        table(rows, caption="Out-of-fold NC / MCI / AD classification, 95 % bootstrap CIs over subjects"),
    ]
    complete = [r for r in result["table"] if isinstance(r.get("on_complete_subjects"), dict)]
    if complete:
        like = [
            _metrics_row(
                {"protocol": r.get("protocol"), "n": r["on_complete_subjects"].get("n")},
                r["on_complete_subjects"],
                DIAGNOSIS_COLUMNS,
            )
            for r in complete
        ]
        parts.append(table(like, caption="Missing-modality strategies scored on the same complete subjects"))
    comparisons = result.get("comparisons")
    if _is_table(comparisons):
        pairs = [
            _metrics_row(
                {"a − b": f"{c.get('a')} − {c.get('b')}", "subjects": c.get("subjects"), "n": c.get("n")},
                c,
                ("balanced_accuracy", "auc_ovr"),
                signed=True,
            )
            for c in comparisons
        ]
        parts.append(table(pairs, caption="Paired differences (same subjects resampled for both), 95 % bootstrap CIs"))
    not_run = result.get("not_run")
    if _is_table(not_run) and not_run:
        parts.append(table(not_run, ["protocol", "reason"], caption="Protocols that could not run"))
    notes = result.get("notes")
    if isinstance(notes, list) and notes:
        parts.append(definitions((f"note {i + 1}", n) for i, n in enumerate(notes)))
    if result.get("protocol"):
        parts.append(details("protocol", paragraph(str(result["protocol"]))))
    return "\n".join(parts)


def _metrics_row(
    head: dict[str, Any], row: Mapping[str, Any], metrics: tuple[str, ...], signed: bool = False
) -> dict[str, Any]:
    return head | {m.replace("_", " "): _with_ci(row, m, signed) for m in metrics}


def _fmt3(value: Any, signed: bool = False) -> str:
    if not isinstance(value, (int, float)) or value != value:
        return "n/a"
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def _with_ci(row: Mapping[str, Any], metric: str, signed: bool = False) -> str:
    """'0.812 [0.700, 0.900]': the value and, when present, its CI (a list of two numbers)."""
    text, ci = _fmt3(row.get(metric), signed), row.get(f"{metric}_ci")
    if isinstance(ci, list) and len(ci) == 2 and all(isinstance(v, (int, float)) for v in ci):
        text += f" [{_fmt3(ci[0], signed)}, {_fmt3(ci[1], signed)}]"
    return text


def _counts(counts: Any) -> str:
    if not isinstance(counts, dict):
        return "classes n/a"
    return ", ".join(f"{k} {v}" for k, v in counts.items())


# ----------------------------------------------------------------------------------------------- shared


def about(path: Path, kind: str) -> str:
    return definitions(
        [
            ("generated by", f"pds-mri {__version__} (`pds report`)"),
            ("generated at", datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
            ("source", f"{kind} directory {path.resolve()}"),
        ]
    )


def _is_table(value: Any) -> TypeGuard[list[dict[str, Any]]]:
    return isinstance(value, list) and bool(value) and all(isinstance(r, dict) for r in value)


def _is_evaluation_payload(payload: Any) -> bool:
    return isinstance(payload, dict) and isinstance(payload.get("rows"), list) and "protocol" in payload


def _is_evaluation(path: Path) -> bool:
    return _is_evaluation_payload(_read_json(path))


def _read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None


def _read_text(path: Path) -> str | None:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _log(path: Path) -> list[dict[str, float]]:
    from pds_mri.report.mosaic import read_log

    return read_log(path)


def _existing_dir(value: Any, base: Path) -> Path | None:
    if not value:
        return None
    # as written; relative to the evaluation; or a sibling of it (a run directory that was moved)
    for candidate in (Path(value), base / value, base.parent / Path(value).name):
        if candidate.is_dir():
            return candidate
    return None


def _fmt(value: Any) -> str:
    return "n/a" if not isinstance(value, (int, float)) or value != value else f"{value:.4g}"
