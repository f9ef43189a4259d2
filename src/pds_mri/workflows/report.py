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
This module only finds out which kind PATH is and writes the page; the pages live in `pds_mri.report.pages`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pds_mri.errors import PdsError
from pds_mri.io.atomic import write_text
from pds_mri.io.run_layout import METRICS_JSON, SYNTH_TSV, BenchmarkDir, RunDir
from pds_mri.progress import console
from pds_mri.report.html import Page
from pds_mri.report.pages.benchmark import benchmark_page
from pds_mri.report.pages.evaluation import evaluation_page
from pds_mri.report.pages.run import run_page
from pds_mri.report.pages.synthesis import synthesis_page
from pds_mri.report.provenance import about

REPORT_NAME = "report.html"


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
    """benchmark, run, evaluation or synthesis: which `pds` command wrote the directory, from its files."""
    if BenchmarkDir(path).is_benchmark():
        return "benchmark"
    if RunDir(path).is_run():
        return "run"
    if (path / METRICS_JSON).is_file():
        return "evaluation"
    if (path / SYNTH_TSV).is_file():
        return "synthesis"
    raise PdsError(
        f"{path}: neither a run directory (config.yaml + split.json from `pds train`), a benchmark directory "
        "(results.json / results.md from `pds benchmark`), nor an evaluation (metrics.json) or synthesis "
        "(synthesized.tsv) directory"
    )
