"""`pds demo`: the whole pipeline on the embedded simulated cohort, small enough for 2 CPU cores."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

from rich.table import Table

from pds_mri.workflows.progress import console


def run_demo(out_dir: Path, n_subjects: int = 12, seed: int = 0) -> None:
    from pds_mri.report.figures import maps_by_diagnosis_figure
    from pds_mri.workflows.prepare import PrepareOptions, run_prepare
    from pds_mri.workflows.simulate import run_simulate

    out_dir = Path(out_dir)
    start = time.perf_counter()
    bids_dir, prepared_dir = out_dir / "bids", out_dir / "prepared"
    console.rule("1/2 simulate a BIDS cohort")
    run_simulate(bids_dir, n_subjects, seed, "cpu", missing_fmri=0.15, missing_dmri=0.15)
    console.rule("2/2 prepare maps on the model grids")
    rows = run_prepare(PrepareOptions(bids_dir=bids_dir, out_dir=prepared_dir, preset="cpu"))
    console.print(summary_table(rows))
    figure = maps_by_diagnosis_figure(prepared_dir, rows, out_dir / "figures" / "maps_by_diagnosis.png")
    console.print(f"figure: {figure}")
    console.print(f"demo finished in {time.perf_counter() - start:.0f} s; outputs in {out_dir}")


def summary_table(rows: list[dict]) -> Table:
    table = Table(title="Prepared cohort")
    for column in ("diagnosis", "subjects", "fMRI + dMRI", "fMRI only", "dMRI only"):
        table.add_column(column, justify="right" if column != "diagnosis" else "left")
    by_dx = Counter(r["diagnosis"] or "unknown" for r in rows)
    for dx in sorted(by_dx, key=lambda d: ("NC", "MCI", "AD", "unknown").index(d) if d in ("NC", "MCI", "AD") else 9):
        group = [r for r in rows if (r["diagnosis"] or "unknown") == dx]
        both = sum(bool(r.get("fmri")) and bool(r.get("dmri")) for r in group)
        fonly = sum(bool(r.get("fmri")) and not r.get("dmri") for r in group)
        donly = sum(bool(r.get("dmri")) and not r.get("fmri") for r in group)
        table.add_row(dx, str(len(group)), str(both), str(fonly), str(donly))
    return table
