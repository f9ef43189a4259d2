"""The evaluation page (a `pds evaluate` output on its own) and the evaluation section every page with a
metrics.json shows: summary and per-subject tables, slice mosaics, uncertainty, disease signal, protocol."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pds_mri.io.layout import key_of
from pds_mri.io.result_files import EvaluationMetrics, read_record
from pds_mri.io.run_layout import METRICS_JSON
from pds_mri.report.format import sig, summary_stat
from pds_mri.report.html import Page, definitions, esc, note, paragraph, table
from pds_mri.report.mosaic import MOSAIC_SUBJECTS
from pds_mri.report.read import existing_dir, read_result
from pds_mri.report.sections.disease_signal import difference_maps
from pds_mri.report.sections.uncertainty import calibration_section

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
    "session_id",
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


def evaluation_page(path: Path) -> Page:
    page = Page(f"pds-mri report — evaluation {path.resolve().name}", f"evaluation directory {path.resolve()}")
    metrics_path = path / METRICS_JSON
    read_record(metrics_path, EvaluationMetrics, "run `pds evaluate` again")  # the page's one subject: refuse it
    add_evaluation(page, metrics_path, "Evaluation")
    return page


def add_evaluation(page: Page, metrics_path: Path, heading: str) -> None:
    """Summary table, per-subject table, skipped rows, mosaics and protocol of one `pds evaluate` output."""
    payload, problem = read_result(metrics_path, EvaluationMetrics)
    if payload is None:
        page.add(heading, note(f"not a readable `pds evaluate` metrics.json: {problem}"))
        return
    summary_rows = []
    for direction, stats in payload.get("summary", {}).items():
        row: dict[str, Any] = {"direction": direction, "subjects": stats.get("subjects")}
        row |= {label: summary_stat(stats.get(key)) for label, key in SUMMARY_METRICS if key in stats}
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


def evaluation_mosaics(payload: dict[str, Any], metrics_path: Path) -> str:
    """Three-plane figures of the first subjects per direction: source | synthesis | real | |error| | uncertainty."""
    from pds_mri.report.sections.synthesis_qc import read_cohort_rows, subject_figure

    inputs = payload.get("inputs", {})
    synth_dir = existing_dir(inputs.get("synth_dir"), metrics_path.parent)
    prepared_dir = existing_dir(inputs.get("prepared_dir"), metrics_path.parent)
    if synth_dir is None or prepared_dir is None:
        return note("slices unavailable: the synthesis or prepared directory named in metrics.json is not there")
    cohort = read_cohort_rows(prepared_dir)
    if not cohort:
        return note(f"slices unavailable: {prepared_dir / 'cohort.tsv'} is missing or unreadable")
    out = []
    for direction in sorted({r["direction"] for r in payload["rows"]}):
        chosen = sorted((r for r in payload["rows"] if r["direction"] == direction), key=key_of)
        for row in chosen[:MOSAIC_SUBJECTS]:
            scores = f"PSNR {sig(row.get('psnr'))} dB, SSIM {sig(row.get('ssim'))}"
            out.append(subject_figure(synth_dir, row, prepared_dir, cohort.get(key_of(row)), scores))
        if len(chosen) > MOSAIC_SUBJECTS:
            out.append(note(f"{direction}: figures of the first {MOSAIC_SUBJECTS} subjects; the table lists all"))
    return "\n".join(out) or note("no rows to show")
