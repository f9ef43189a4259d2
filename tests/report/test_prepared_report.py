"""`pds report PREPARED`: an index linking one self-contained QC page per subject (structure, not pixels).

A copy of the session's prepared directory, cut to three subjects: one made "registered" with a poor QC (its
transform written by hand, identity), one lacking a modality, one whose listed fMRI map was deleted.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from page_check import parse_page

import pds_mri.report.brain as brain
from pds_mri.cli import main
from pds_mri.preprocess.registration import MIN_QC
from pds_mri.workflows.report import detect_kind, run_report


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def _write(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, list(rows[0]), delimiter="\t", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture(scope="module")
def qc_report(prepared: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("prepared-qc") / "prepared"
    shutil.copytree(prepared, root)
    rows = _rows(root / "cohort.tsv")
    paired = [r for r in rows if r["fmri"] and r["dmri"]]
    lacking = next(r for r in rows if not (r["fmri"] and r["dmri"]))
    registered, damaged = paired[0], paired[1]
    registered |= {"registration": "affine via T1w", "registration_qc": "0.31"}
    xfm = f"{registered['participant_id']}/hand-written_xfm.json"
    (root / xfm).write_text(json.dumps({"Matrix": [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]}))
    registered["fmri_xfm"] = xfm
    (root / damaged["fmri"]).unlink()
    _write(root / "cohort.tsv", [registered, damaged, lacking])
    mp = pytest.MonkeyPatch()
    mp.setattr(brain, "QC_DPI", 30)  # structure, not pixels: small figures keep the test fast
    try:
        index = run_report(root)
    finally:
        mp.undo()
    return {"root": root, "index": index, "registered": registered, "damaged": damaged, "lacking": lacking}


def test_a_prepared_directory_is_detected_and_its_index_links_every_subject(qc_report: dict) -> None:
    root, index = qc_report["root"], qc_report["index"]
    assert detect_kind(root) == "prepared" and index == root / "report.html"
    page = parse_page(index)
    subjects = [qc_report[k]["participant_id"] for k in ("registered", "damaged", "lacking")]
    pages = sorted((root / "report_subjects").glob("*.html"))
    assert [p.stem for p in pages] == sorted(subjects)  # one page per subject, nothing else
    for pid in subjects:
        assert f"report_subjects/{pid}.html" in page.links
    text = page.all_text
    assert "Registration QC" in text and "0.31" in text  # the QC number, on the index
    assert "mask Dice" in text


def test_poor_registration_missing_modality_and_missing_file_are_flagged(qc_report: dict) -> None:
    html = qc_report["index"].read_text()
    flagged = parse_page(qc_report["index"]).all_text
    assert f"poor registration (QC r 0.31 < {MIN_QC})" in flagged
    lacking = qc_report["lacking"]
    absent = "fMRI" if not lacking["fmri"] else "dMRI"
    assert f"no {absent}" in flagged
    assert "1 listed file(s) missing or unreadable" in flagged
    assert html.count('class="flag"') >= 3


def test_every_subject_page_is_self_contained_with_maps_tissue_and_registration(qc_report: dict) -> None:
    root = qc_report["root"]
    registered = parse_page(root / "report_subjects" / f"{qc_report['registered']['participant_id']}.html")
    assert registered.sections[:4] == ["summary", "maps-on-the-mni152-template", "tissue-maps", "registration-check"]
    assert "../report.html" in registered.links
    # maps (one figure), tissue (one per grid), registration (one)
    assert len(registered.images) == 4
    text = registered.all_text
    assert "affine via T1w" in text and "QC r 0.31" in text and "MNI152 brain mask" in text
    lacking = parse_page(root / "report_subjects" / f"{qc_report['lacking']['participant_id']}.html")
    assert len(lacking.images) == 4 and "no flags" not in lacking.all_text


def test_a_missing_map_listed_in_cohort_tsv_is_a_note_not_a_crash(qc_report: dict) -> None:
    damaged = qc_report["damaged"]
    page = parse_page(qc_report["root"] / "report_subjects" / f"{damaged['participant_id']}.html")
    assert f"{damaged['fmri']}: listed in cohort.tsv but missing" in page.all_text
    assert len(page.images) == 4  # the other maps and the checks are still drawn


def test_a_new_report_replaces_the_subject_pages_of_an_old_one(
    qc_report: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--out elsewhere: its own `<stem>_subjects/` folder; a page of a subject no longer in the cohort goes."""
    monkeypatch.setattr(brain, "QC_DPI", 30)
    root = qc_report["root"]
    rows = _rows(root / "cohort.tsv")
    copy = tmp_path / "p"
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns("report*"))
    _write(copy / "cohort.tsv", rows[2:])  # the subject lacking a modality only
    out = tmp_path / "qc" / "index.html"
    (out.parent / "index_subjects").mkdir(parents=True)
    (out.parent / "index_subjects" / "sub-gone.html").write_text("a subject of an older cohort")
    assert main(["report", str(copy), "--out", str(out)]) == 0
    name = f"{rows[2]['participant_id']}.html"
    from pds_mri.workflows.report import PAGES_MARKER

    assert sorted(p.name for p in (out.parent / "index_subjects").iterdir()) == sorted([name, PAGES_MARKER])
    assert "../index.html" in parse_page(out.parent / "index_subjects" / name).links
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(".")] == []  # no staging folder left
