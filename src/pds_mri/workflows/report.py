"""`pds report PATH [--out FILE]`: one self-contained HTML file (images embedded, no script, opens offline).

PATH may be
  a run directory (`pds train`): model card, config, split, training curves, and every evaluation
      (metrics.json of `pds evaluate`) or synthesis (synthesized.tsv) found inside it, with slice mosaics;
  a benchmark directory (`pds benchmark`): results.json's `table` rows (and its other entries), results.md,
      and every PNG under figures/;
  in a run or benchmark directory, every `pds diagnose` output found inside it (diagnosis.json) becomes a
      Diagnosis section (e.g. `pds diagnose PREPARED BENCH/diagnosis --benchmark BENCH`);
  an evaluation directory (`pds evaluate`) or a synthesis directory (`pds synthesize`) on its own: per
      subject, source | synthesis | real (when present) | |error| | uncertainty in three planes;
  a prepared directory (`pds prepare`, cohort.tsv): QC pages, one per subject (each map on the MNI152 template
      with brain-mask and field-of-view contours, tissue maps, registration check) in OUT's folder
      `<stem>_subjects/`, and OUT an index linking them with each subject's QC numbers and flags.
Readers are tolerant: a missing or unreadable piece becomes a note in the report, not an error.
This module only finds out which kind PATH is and writes the page; the pages live in `pds_mri.report.pages`.
"""

from __future__ import annotations

import functools
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

from pds_mri.errors import PdsError
from pds_mri.io.atomic import write_text
from pds_mri.io.layout import COHORT_TSV
from pds_mri.io.run_layout import METRICS_JSON, SYNTH_TSV, BenchmarkDir, RunDir
from pds_mri.progress import console
from pds_mri.report.html import Page
from pds_mri.report.pages.benchmark import benchmark_page
from pds_mri.report.pages.evaluation import evaluation_page
from pds_mri.report.pages.prepared import prepared_pages, subjects_folder
from pds_mri.report.pages.run import run_page
from pds_mri.report.pages.synthesis import synthesis_page
from pds_mri.report.provenance import about

REPORT_NAME = "report.html"


def run_report(path: Path, out: Path | None = None, syntheses: Sequence[Path] = ()) -> Path:
    """Write the report of PATH to `out` (default PATH/report.html), atomically; print and return its path.

    syntheses: synthesis directories outside a run directory to show in its report too (e.g. the subjects
    `pds synthesize` imputed into another folder), each as its own section.
    """
    path = Path(path)
    if not path.is_dir():
        raise PdsError(f"{path}: not a directory; give a run directory (`pds train`) or a benchmark directory")
    kind = detect_kind(path)
    out = Path(out) if out is not None else path / REPORT_NAME
    if syntheses and kind != "run":
        raise PdsError(f"--synthesis adds syntheses to a run report; {path} is a {kind} directory")
    if kind == "prepared":
        write_prepared_report(path, out)
    else:
        builders: dict[str, Callable[[Path], Page]] = {
            "benchmark": benchmark_page,
            "run": functools.partial(run_page, also=tuple(Path(s) for s in syntheses)),
            "evaluation": evaluation_page,
            "synthesis": synthesis_page,
        }
        page = builders[kind](path)
        page.add("About", about(path, kind))
        write_text(out, page.render())
    console.print(f"{kind} report written")
    print(out)
    return out


#: Written into the subject-page folder: a folder of that name without it (and with more than pages) is not ours.
PAGES_MARKER = ".pds-report-pages"


def write_prepared_report(path: Path, out: Path) -> None:
    """The subject pages into a fresh folder beside OUT (swapped in whole: no stale page of a subject that has
    left the cohort), then the index OUT. A folder of that name that `pds report` did not write is refused
    before anything is written; a failure part-way leaves no staging folder behind."""
    folder = out.parent / subjects_folder(out.name)
    if folder.exists() and not _our_pages(folder):
        raise PdsError(f"{folder}: exists and was not written by `pds report` (it would be replaced by the subject "
                       "pages); move it or choose another --out")  # fmt: skip
    staging = out.parent / f".{folder.name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        for name, page in prepared_pages(path, out.name):
            page.add("About", about(path, "prepared"))
            if name is not None:
                write_text(staging / name, page.render())
                continue
            write_text(staging / PAGES_MARKER, f"subject pages of {out.name}, written by pds report\n")
            if folder.exists():
                old = out.parent / f".{folder.name}.old"
                shutil.rmtree(old, ignore_errors=True)
                folder.rename(old)
                shutil.rmtree(old, ignore_errors=True)
            staging.rename(folder)
            write_text(out, page.render())
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _our_pages(folder: Path) -> bool:
    """Written by `pds report`: its marker, or (a folder from before the marker) nothing but HTML pages."""
    if (folder / PAGES_MARKER).is_file():
        return True
    return folder.is_dir() and all(p.is_file() and p.suffix == ".html" for p in folder.iterdir())


def detect_kind(path: Path) -> str:
    """benchmark, run, evaluation, synthesis or prepared: which `pds` command wrote the directory, from its files."""
    if BenchmarkDir(path).is_benchmark():
        return "benchmark"
    if RunDir(path).is_run():
        return "run"
    if (path / METRICS_JSON).is_file():
        return "evaluation"
    if (path / SYNTH_TSV).is_file():
        return "synthesis"
    if (path / COHORT_TSV).is_file():
        return "prepared"
    raise PdsError(
        f"{path}: neither a run directory (config.yaml + split.json from `pds train`), a benchmark directory "
        "(results.json / results.md from `pds benchmark`), an evaluation (metrics.json), a synthesis "
        "(synthesized.tsv) nor a prepared (cohort.tsv) directory"
    )
