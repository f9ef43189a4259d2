"""Sessions end to end: a row is a subject-session, its names keep ses, and the indexes say which session.

The dataset is built from the simulated cohort by copying subjects' files into ses-XX/ folders with BIDS names:
  sub-001  ses-01 = sub-001's scans, ses-02 = sub-002's scans (both complete: two rows)
  sub-003  ses-01 BOLD + T1w, ses-02 DWI, ses-03 DWI; sub-003_sessions.tsv puts ses-03 a year after ses-01 and
           ses-02 eight years after it, so ses-01 borrows the DWI of ses-03 (nearest in time, not in label)
  sub-005  no sessions (its row keeps today's names, session_id n/a)
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
import yaml

from pds_mri.workflows.prepare import PrepareOptions, run_prepare
from tiny_setup import tiny_config

KINDS = {"anat": ("T1w.nii.gz",), "func": ("task-rest_bold.nii.gz", "task-rest_bold.json"),
         "dwi": ("dwi.nii.gz", "dwi.bval", "dwi.bvec")}  # fmt: skip


def _copy(sim: Path, source: str, root: Path, target: str, ses: str | None, kinds: tuple[str, ...]) -> None:
    """`source`'s files of the given datatypes as `target`'s, in session `ses` (BIDS names)."""
    for kind in kinds:
        for suffix in KINDS[kind]:
            src = sim / source / kind / f"{source}_{suffix}"
            stem = target if ses is None else f"{target}_{ses}"
            folder = root / target / (ses or "") / kind
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, folder / f"{stem}_{suffix}")


def sessions_bids(sim: Path, root: Path) -> Path:
    root.mkdir(parents=True)
    for name in ("dataset_description.json", "participants.tsv", "participants.json"):
        shutil.copyfile(sim / name, root / name)
    all_kinds = ("anat", "func", "dwi")
    _copy(sim, "sub-001", root, "sub-001", "ses-01", all_kinds)
    _copy(sim, "sub-002", root, "sub-001", "ses-02", all_kinds)
    _copy(sim, "sub-003", root, "sub-003", "ses-01", ("anat", "func"))
    _copy(sim, "sub-003", root, "sub-003", "ses-02", ("dwi",))
    _copy(sim, "sub-003", root, "sub-003", "ses-03", ("dwi",))
    (root / "sub-003" / "sub-003_sessions.tsv").write_text(
        "session_id\tacq_time\nses-01\t2001-03-01T10:00:00\nses-02\t2009-03-01T10:00:00\nses-03\t2002-03-01T10:00:00\n"
    )
    _copy(sim, "sub-005", root, "sub-005", None, all_kinds)
    return root


def _tsv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


@pytest.fixture(scope="module")
def sessions(sim_bids: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("sessions")
    bids = sessions_bids(sim_bids, root / "bids")
    config = root / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_config(stage1_steps=2, stage2_steps=1)))
    prepared = root / "prepared"
    run_prepare(PrepareOptions(bids_dir=bids, out_dir=prepared, config=config))
    return {"bids": bids, "prepared": prepared, "config": config, "root": root}


def test_a_two_session_subject_yields_two_rows_with_matching_sessions(sessions: dict[str, Path]) -> None:
    prepared = sessions["prepared"]
    with (prepared / "cohort.tsv").open() as fh:
        header = fh.readline().rstrip("\n").split("\t")
    assert header[:2] == ["participant_id", "session_id"] and header[-1] == "pairing"
    rows = _tsv(prepared / "cohort.tsv")
    keys = [(r["participant_id"], r["session_id"]) for r in rows]
    assert keys == [("sub-001", "ses-01"), ("sub-001", "ses-02"), ("sub-003", "ses-01"), ("sub-003", "ses-02"),
                    ("sub-005", "n/a")]  # fmt: skip
    paths = ("fmri", "dmri", "fmri_native", "dmri_native", "fmri_mask", "dmri_mask", "fmri_tissue", "dmri_tissue")
    for row in rows[:4]:
        sub, ses = row["participant_id"], row["session_id"]
        for column in paths:  # every prepared name keeps ses, in sub-X/ses-Y/
            folder = "anat" if column.endswith(("mask", "tissue")) else {"f": "func", "d": "dwi"}[column[0]]
            assert row[column].startswith(f"{sub}/{ses}/{folder}/{sub}_{ses}_"), (column, row[column])
            assert (prepared / row[column]).is_file()
    one, two = rows[0], rows[1]
    assert one["pairing"] == two["pairing"] == "same session"
    for column in ("fmri_native", "dmri_native"):  # each row is made from its own session's scans
        assert (prepared / one[column]).read_bytes() != (prepared / two[column]).read_bytes()
    plain = rows[4]  # a subject without sessions keeps the names it had before sessions were read
    assert plain["fmri"] == "sub-005/func/sub-005_task-rest_space-fmrigrid_desc-mean_boldmap.nii.gz"
    assert plain["pairing"] == "n/a"
    assert (prepared / "sub-005" / "anat" / "sub-005_space-dmrigrid_desc-brain_mask.nii.gz").is_file()


def test_a_session_without_dwi_is_paired_with_the_nearest_and_says_so(sessions: dict[str, Path]) -> None:
    rows = {(r["participant_id"], r["session_id"]): r for r in _tsv(sessions["prepared"] / "cohort.tsv")}
    first, second = rows[("sub-003", "ses-01")], rows[("sub-003", "ses-02")]
    assert first["pairing"] == "dwi from ses-03"  # a year away beats ses-02 (eight years), although ses-02 < ses-03
    assert second["pairing"] == "bold from ses-01; T1w from ses-01"
    assert first["tissue_source"] == second["tissue_source"] == "T1w segmentation"
    assert ("sub-003", "ses-03") not in rows  # its pair (BOLD ses-01, DWI ses-03) is the ses-01 row already


def test_the_pairing_is_reported_when_discovered(sessions: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    from pds_mri.io.bids import discover

    capsys.readouterr()
    found = discover(sessions["bids"])
    captured = capsys.readouterr()
    text = " ".join((captured.out + captured.err).split())
    assert "sub-003 ses-01: no DWI in this session; paired with the DWI of ses-03" in text
    assert "sub-003 ses-02: no T1w in this session; using the T1w of ses-01" in text
    assert [s.row_id for s in found] == ["sub-001_ses-01", "sub-001_ses-02", "sub-003_ses-01", "sub-003_ses-02",
                                         "sub-005"]  # fmt: skip


def test_session_label_keeps_the_chosen_sessions_only(sessions: dict[str, Path]) -> None:
    from pds_mri.io.bids import discover

    found = discover(sessions["bids"], session_labels=["02"])
    assert [(s.row_id, s.pairing) for s in found] == [
        ("sub-001_ses-02", "same session"),
        ("sub-003_ses-02", "same session"),
    ]
    assert found[1].bold is None  # ses-02 of sub-003 has only a DWI, and no other session is allowed


def test_train_synthesize_evaluate_keep_sessions_and_split_by_participant(sessions: dict[str, Path]) -> None:
    from pds_mri.training.split import read_split
    from pds_mri.workflows.evaluate import run_evaluate
    from pds_mri.workflows.synthesize import SynthesizeOptions, run_synthesize
    from pds_mri.workflows.train import TrainOptions, run_train

    prepared, root = sessions["prepared"], sessions["root"]
    run, synth = root / "run", root / "synth"
    run_train(TrainOptions(prepared, run, config=sessions["config"], seed=1, folds=3, fold=0))
    split = read_split(run)
    owner = {k: k.split("_")[0] for s in split.values() for k in s}
    sets = {name: {owner[k] for k in keys} for name, keys in split.items()}
    assert not (sets["train"] & sets["val"]) and not (sets["train"] & sets["test"]) and not (sets["val"] & sets["test"])
    assert {"sub-001_ses-01", "sub-001_ses-02"} <= set(split["train"]) | set(split["val"]) | set(split["test"])
    run_synthesize(SynthesizeOptions(run, prepared, synth, direction="fmri2dmri", samples=1, seed=2))
    with (synth / "synthesized.tsv").open() as fh:
        assert fh.readline().split("\t")[:2] == ["participant_id", "session_id"]
    rows = {(r["participant_id"], r["session_id"]): r for r in _tsv(synth / "synthesized.tsv")}
    assert set(rows) == {("sub-001", "ses-01"), ("sub-001", "ses-02"), ("sub-003", "ses-01"), ("sub-003", "ses-02"),
                         ("sub-005", "n/a")}  # fmt: skip
    session_row = rows[("sub-001", "ses-02")]
    for column in ("synthesis", "synthesis_native", "sidecar"):
        assert session_row[column].startswith("sub-001/ses-02/dwi/sub-001_ses-02_"), session_row[column]
        assert (synth / session_row[column]).is_file()
    assert rows[("sub-005", "n/a")]["synthesis"] == "sub-005/dwi/sub-005_space-dmrigrid_desc-meanSynth_trace.nii.gz"
    seeds = {json.loads((synth / r["sidecar"]).read_text())["SubjectSeed"] for r in rows.values()}
    assert len(seeds) == len(rows)  # each session its own seed
    run_evaluate(synth, prepared, root / "metrics")
    metrics = _tsv(root / "metrics" / "metrics.tsv")
    assert sorted((r["participant_id"], r["session_id"]) for r in metrics) == sorted(rows)
