"""Synthesis QC figures: `pds report SYNTH_DIR` and a run report with `--synthesis` draw every synthesised
subject (source | synthesis | real | |error| | uncertainty), imputed ones included; structure, not pixels.

The syntheses are written here from the session's prepared maps (a real map plus noise, a constant std), so
no model is trained: the report reads what `pds synthesize` writes, through synthesized.tsv.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from page_check import parse_page

import pds_mri.report.brain as brain
from pds_mri.cli import main
from pds_mri.workflows.report import run_report

COLUMNS = ("participant_id", "direction", "source", "target", "synthesis", "uncertainty", "sidecar", "mode")


@pytest.fixture(autouse=True)
def _small_figures(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(brain, "QC_DPI", 30)


def _cohort(prepared: Path) -> list[dict[str, str]]:
    with (prepared / "cohort.tsv").open(newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def _synthesis(prepared: Path, out: Path, link: bool = True) -> list[dict[str, str]]:
    """Three syntheses: a paired subject both ways (std maps in one direction), one imputed subject."""
    rows = _cohort(prepared)
    paired = next(r for r in rows if r["fmri"] and r["dmri"])
    lacking = next(r for r in rows if not (r["fmri"] and r["dmri"]))
    rng = np.random.default_rng(0)
    written = []
    jobs = [(paired, "fmri2dmri", True), (paired, "dmri2fmri", False)]
    jobs.append((lacking, "fmri2dmri" if lacking["fmri"] else "dmri2fmri", True))
    for row, direction, with_std in jobs:
        source, target = direction.split("2")
        grid = nib.load(prepared / row[f"{target}_mask"])
        sub = row["participant_id"]
        synth = f"{sub}/{sub}_{direction}_synthesis.nii.gz"
        (out / sub).mkdir(parents=True, exist_ok=True)
        base = np.asarray(nib.load(prepared / row[target]).dataobj) if row[target] else np.zeros(grid.shape)
        noisy = np.clip(base + rng.normal(0, 0.1, grid.shape), -1, 1).astype(np.float32)
        nib.save(nib.Nifti1Image(noisy, grid.affine), out / synth)
        std = ""
        if with_std:
            std = f"{sub}/{sub}_{direction}_std.nii.gz"
            nib.save(nib.Nifti1Image(np.full(grid.shape, 0.1, np.float32), grid.affine), out / std)
        written.append({"participant_id": sub, "direction": direction, "source": source, "target": target,
                        "synthesis": synth, "uncertainty": std, "sidecar": "", "mode": "mean"})  # fmt: skip
    with (out / "synthesized.tsv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, COLUMNS, delimiter="\t", lineterminator="\n")
        writer.writeheader()
        writer.writerows(written)
    if link:
        links = {"DatasetLinks": {"prepared": f"file://{prepared.resolve()}"}}
        (out / "dataset_description.json").write_text(json.dumps(links))
    return written


def test_synthesis_report_draws_every_subject_with_real_error_and_uncertainty(prepared: Path, tmp_path: Path) -> None:
    synth = tmp_path / "synth"
    rows = _synthesis(prepared, synth)
    page = parse_page(run_report(synth))
    text = page.all_text
    assert len(page.images) == len(rows)  # one three-plane figure per synthesised subject and direction
    assert text.count("real map present") == 2 and text.count("imputed: the subject has no real map") == 1
    assert text.count("MAE") == 2 and text.count("mean std") == 2  # the numbers, where they exist
    assert "prepared directory not found" not in text


def test_a_synthesis_without_its_prepared_directory_or_a_file_still_reports(prepared: Path, tmp_path: Path) -> None:
    synth = tmp_path / "synth"
    rows = _synthesis(prepared, synth, link=False)
    (synth / rows[0]["synthesis"]).unlink()
    page = parse_page(run_report(synth))
    text = page.all_text
    assert "prepared directory not found" in text  # no source nor real map: the rows say absent
    assert f"{rows[0]['participant_id']} fmri2dmri: figure unavailable" in text
    assert len(page.images) == len(rows) - 1


def test_run_report_shows_synthesis_directories_given_with_it(prepared: Path, tmp_path: Path) -> None:
    """The imputed subjects of a synthesis kept outside the run (as the demo's synthesized/) are in its report."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("model: {}\n")
    (run / "split.json").write_text(json.dumps({"train": [], "val": [], "test": []}))
    synth = tmp_path / "imputed"
    rows = _synthesis(prepared, synth)
    assert main(["report", str(run), "--synthesis", str(synth)]) == 0
    page = parse_page(run / "report.html")
    assert "Synthesis (imputed)" in page.all_text and len(page.images) == len(rows)
    assert main(["report", str(synth), "--synthesis", str(synth)]) == 2  # only a run report takes them
