"""The benchmark page (a `pds benchmark` directory): results.json's tables and entries, results.md, the
figures under figures/ (or mosaics built from its runs when there are none), diagnoses and the config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pds_mri.errors import InputError, PdsError
from pds_mri.io.layout import key_of
from pds_mri.io.result_files import BenchmarkResults
from pds_mri.io.run_layout import BenchmarkDir
from pds_mri.io.synthesized import read_synthesized
from pds_mri.report.html import Page, definitions, details, image, markdown, note, pre, table
from pds_mri.report.mosaic import MOSAIC_SUBJECTS
from pds_mri.report.read import existing_dir, is_table, read_result, read_text
from pds_mri.report.sections.diagnosis import add_diagnoses

MAX_FIGURES = 200


def benchmark_page(bench: Path) -> Page:
    page = Page(f"pds-mri report — benchmark {bench.resolve().name}", f"benchmark directory {bench.resolve()}")
    layout = BenchmarkDir(bench)
    results, problem = read_result(layout.results_json, BenchmarkResults)
    md = read_text(layout.results_md)
    if results is None and md is None:
        raise InputError(
            layout.results_json, f"neither results.json nor results.md of `pds benchmark` is readable ({problem})"
        )
    if isinstance(results, dict):
        main_table = results.get("table")
        if is_table(main_table):
            page.add("Results", table(main_table))
        scalars = [(k, v) for k, v in results.items() if not isinstance(v, (dict, list))]
        if scalars:
            page.add("Summary", definitions(scalars))
        for key, value in results.items():
            if key == "table" and is_table(value):
                continue
            if is_table(value):
                page.add(key, table(value))
            elif isinstance(value, dict) and value and all(not isinstance(v, (dict, list)) for v in value.values()):
                page.add(key, definitions(value.items()))
            elif isinstance(value, (dict, list)):
                page.add(key, details(f"{key} (JSON)", pre(json.dumps(value, indent=2, default=str))))
    elif layout.results_json.exists():
        page.add("Results", note(f"results.json is not a readable JSON object of `pds benchmark`: {problem}"))
    if md:
        page.add("results.md", details("results.md", markdown(md)) if isinstance(results, dict) else markdown(md))
    figures = sorted((bench / "figures").rglob("*.png")) if (bench / "figures").is_dir() else []
    if not figures and isinstance(results, dict) and layout.runs.is_dir():
        page.add("Slices", benchmark_mosaics(bench, results))
    if figures:
        shown = [
            image(p.read_bytes(), str(p.relative_to(bench)), str(p.relative_to(bench))) for p in figures[:MAX_FIGURES]
        ]
        if len(figures) > MAX_FIGURES:
            shown.append(note(f"{len(figures) - MAX_FIGURES} more figure(s) under figures/ not shown"))
        page.add("Figures", "\n".join(shown))
    add_diagnoses(page, bench)
    config = read_text(bench / "config.yaml")
    if config:
        page.add("Config", pre(config))
    if not page.sections:
        page.add("Results", note("no results.json, results.md or figures/ yet (is the benchmark still running?)"))
    return page


def benchmark_mosaics(bench: Path, results: dict[str, Any], fold: int = 0) -> str:
    """Per direction, a few test subjects of one fold: source | real | every model | |error| of the reference
    model | its uncertainty, from `pds benchmark`'s runs/<model>/<fold>/synth-<direction>/ (when it wrote none)."""
    from pds_mri.domain import DIRECTIONS
    from pds_mri.report.mosaic import direction_panels, mosaic_png
    from pds_mri.training.data import read_cohort

    prepared = existing_dir(results.get("prepared_dir"), bench)
    if prepared is None:
        return note("slices unavailable: the prepared directory named in results.json is not there")
    try:
        cohort = {key_of(r): r for r in read_cohort(prepared)}
    except PdsError as exc:
        return note(f"slices unavailable: {exc}")
    layout = BenchmarkDir(bench)
    reference = str(results.get("reference") or "pds")
    names = [m for m in (results.get("models") or {}) if layout.model_dir(m).is_dir()]
    names += sorted(p.name for p in layout.runs.iterdir() if p.is_dir() and p.name not in names)
    names.sort(key=lambda m: m != reference)  # the reference first: its error and uncertainty are shown
    out = []
    for direction in DIRECTIONS:
        per_model: dict[str, tuple[Path, dict[str, dict[str, str]]]] = {}
        for model in names:
            synth_dir = layout.fold(model, fold).synthesized(direction)
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
            caption = f"{pid} {direction} (fold-{fold}); absolute error of {first_model} on the [0, 1] scale"
            out.append(image(png, f"{pid} {direction}", caption))
    return "\n".join(out) or note(f"no syntheses under runs/*/fold-{fold}/synth-<direction>/ yet")
