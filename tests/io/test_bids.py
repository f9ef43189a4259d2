"""Discovery of subjects in raw BIDS, fMRIPrep-style derivatives and CSV manifests."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from pds_mri.errors import InputError, PdsError
from pds_mri.io.bids import (
    discover,
    normalise_diagnosis,
    parse_diagnosis_map,
    read_manifest,
    report_unknown_diagnoses,
)


def _nifti(path: Path, shape: tuple[int, ...]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(np.ones(shape, np.float32), np.eye(4)), path)
    return path


def _raw_bids(root: Path) -> Path:
    (root / "dataset_description.json").parent.mkdir(parents=True, exist_ok=True)
    (root / "dataset_description.json").write_text(json.dumps({"Name": "t", "BIDSVersion": "1.9.0"}))
    (root / "participants.tsv").write_text(
        "participant_id\tdiagnosis\tage\tsex\nsub-01\tCN\t70\tF\nsub-02\tDementia\t\tM\n"
    )
    (root / "task-rest_bold.json").write_text(json.dumps({"RepetitionTime": 2.5, "TaskName": "rest"}))
    _nifti(root / "sub-01/func/sub-01_task-rest_bold.nii.gz", (4, 4, 4, 6))
    _nifti(root / "sub-01/dwi/sub-01_dwi.nii.gz", (4, 4, 4, 3))
    (root / "sub-01/dwi/sub-01_dwi.bval").write_text("0 1000 1000\n")
    (root / "sub-01/dwi/sub-01_dwi.bvec").write_text("0 1 0\n0 0 1\n0 0 0\n")
    _nifti(root / "sub-01/anat/sub-01_T1w.nii.gz", (4, 4, 4))
    _nifti(root / "sub-02/dwi/sub-02_dwi.nii.gz", (4, 4, 4, 3))
    (root / "sub-02/dwi/sub-02_dwi.bval").write_text("0 1000 1000\n")
    (root / "sub-02/dwi/sub-02_dwi.bvec").write_text("0 1 0\n0 0 1\n0 0 0\n")
    return root


def test_raw_bids_finds_runs_sidecar_tr_and_diagnosis(tmp_path: Path) -> None:
    subjects = discover(_raw_bids(tmp_path / "bids"))
    assert [s.participant_id for s in subjects] == ["sub-01", "sub-02"]
    one, two = subjects
    assert one.bold is not None and one.bold.name == "sub-01_task-rest_bold.nii.gz"
    assert one.repetition_time == 2.5  # inherited from the top-level sidecar
    assert one.dwi is not None and one.bval is not None and one.bval.name == "sub-01_dwi.bval"
    assert one.t1w is not None and one.diagnosis == "NC" and one.age == 70.0 and one.sex == "F"
    assert two.bold is None and two.has_dmri and two.diagnosis == "AD" and two.age is None


def test_participant_label_filters_and_unknown_label_is_an_error(tmp_path: Path) -> None:
    root = _raw_bids(tmp_path / "bids")
    assert [s.participant_id for s in discover(root, ["02"])] == ["sub-02"]
    with pytest.raises(InputError, match="sub-99"):
        discover(root, ["99"])


def test_fmriprep_derivative_prefers_mni_preproc_run(tmp_path: Path) -> None:
    root = tmp_path / "fmriprep"
    root.mkdir()
    (root / "dataset_description.json").write_text(
        json.dumps({"Name": "fMRIPrep", "BIDSVersion": "1.9.0", "DatasetType": "derivative"})
    )
    func = root / "sub-01/func"
    _nifti(func / "sub-01_task-rest_space-T1w_desc-preproc_bold.nii.gz", (4, 4, 4, 6))
    mni = _nifti(func / "sub-01_task-rest_space-MNI152NLin2009cAsym_desc-preproc_bold.nii.gz", (4, 4, 4, 6))
    mni.with_name(mni.name.replace(".nii.gz", ".json")).write_text(json.dumps({"RepetitionTime": 0.8}))
    (subject,) = discover(root)
    assert subject.bold == mni and subject.repetition_time == 0.8 and subject.diagnosis is None


def test_manifest_resolves_paths_relative_to_itself(tmp_path: Path) -> None:
    manifest = tmp_path / "cohort.csv"
    manifest.write_text(
        "subject,fmri,dmri,bval,bvec,diagnosis,tr\n01,a/bold.nii.gz,,,,MCI,2\n02,,b/dwi.nii.gz,b/x.bval,b/x.bvec,,\n"
    )
    one, two = read_manifest(manifest)
    assert one.participant_id == "sub-01" and one.bold == tmp_path / "a/bold.nii.gz" and one.repetition_time == 2.0
    assert one.dwi is None and one.diagnosis == "MCI"
    assert two.bold is None and two.bvec == tmp_path / "b/x.bvec" and two.diagnosis is None


def test_a_manifest_session_column_makes_one_row_per_session(tmp_path: Path) -> None:
    manifest = tmp_path / "cohort.csv"
    manifest.write_text(
        "subject,session,fmri,dmri,bval,bvec,diagnosis\n01,1,a.nii.gz,,,,NC\n01,ses-2,b.nii.gz,,,,NC\n02,,c.nii.gz,,,,\n"
    )
    rows = read_manifest(manifest)
    assert [(r.row_id, r.session_id) for r in rows] == [("sub-01_ses-1", "ses-1"), ("sub-01_ses-2", "ses-2"),
                                                        ("sub-02", None)]  # fmt: skip
    manifest.write_text("subject,session,fmri,dmri,bval,bvec,diagnosis\n01,1,a,,,,NC\n01,ses-1,b,,,,NC\n")
    with pytest.raises(InputError, match="line 3: duplicate subject sub-01 ses-1"):
        read_manifest(manifest)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("subject,fmri\n01,a.nii.gz\n", "columns"),
        ("subject,fmri,dmri,bval,bvec,diagnosis\n01,a,,,,NC\n01,b,,,,NC\n", "duplicate"),
        ("subject,fmri,dmri,bval,bvec,diagnosis,tr\n01,a,,,,NC,fast\n", "not a number"),
    ],
)
def test_bad_manifest_is_one_clear_line(tmp_path: Path, content: str, problem: str) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text(content)
    with pytest.raises(InputError, match=problem) as info:
        read_manifest(manifest)
    assert "m.csv" in str(info.value) and "\n" not in str(info.value)


def test_not_bids_and_missing_path(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"dataset_description\.json"):
        discover(tmp_path)
    with pytest.raises(InputError, match="not found"):
        discover(tmp_path / "nope")


def test_participants_duplicates_and_bad_labels(tmp_path: Path) -> None:
    root = _raw_bids(tmp_path / "bids")
    (root / "participants.tsv").write_text("participant_id\tdiagnosis\nsub-01\tNC\nsub-01\tAD\n")
    with pytest.raises(InputError, match="duplicate"):
        discover(root)
    # a label outside NC/MCI/AD (ADNI "SMC") used to abort the whole prepare: now the subject is kept, unknown
    (root / "participants.tsv").write_text("participant_id\tdiagnosis\nsub-01\tSMC\n")
    subjects = discover(root)
    assert [s.diagnosis for s in subjects if s.participant_id == "sub-01"] == [None]
    warnings = report_unknown_diagnoses()
    assert len(warnings) == 1 and "'SMC' (1)" in warnings[0] and "participants.tsv" in warnings[0]
    assert report_unknown_diagnoses() == []  # reported once


def test_a_diagnosis_map_maps_other_labels_and_refuses_bad_entries(tmp_path: Path) -> None:
    """#14 item 3: ADNI "SMC" and OASIS-3 "uncertain dementia" aborted prepare once, then became unknown with
    no way to keep them; `--diagnosis-map` maps them (case-insensitive), and `unknown` silences the warning."""
    root = _raw_bids(tmp_path / "bids")
    (root / "participants.tsv").write_text("participant_id\tdiagnosis\nsub-01\tsmc\n")
    mapping = parse_diagnosis_map("SMC=nc, uncertain dementia=AD,other=unknown")
    assert mapping == {"smc": "NC", "uncertain dementia": "AD", "other": None}
    subjects = discover(root, diagnosis_map=mapping)
    assert [s.diagnosis for s in subjects if s.participant_id == "sub-01"] == ["NC"]
    assert report_unknown_diagnoses() == []  # mapped: nothing to warn about
    assert normalise_diagnosis("Other", "x", mapping) is None and report_unknown_diagnoses() == []
    assert normalise_diagnosis("CN", "x", mapping) == "NC"  # the known spellings still apply
    assert parse_diagnosis_map(None) == {} and parse_diagnosis_map(" ") == {}
    for bad, problem in (("SMC", "not LABEL=TARGET"), ("SMC=XX", "must be NC, MCI, AD or unknown"),
                         ("a=NC,A=AD", "mapped twice"), ("=NC", "not LABEL=TARGET")):  # fmt: skip
        with pytest.raises(PdsError, match=problem):
            parse_diagnosis_map(bad)


def test_diagnosis_aliases() -> None:
    assert normalise_diagnosis("CN", "x") == "NC"
    assert normalise_diagnosis("lmci", "x") == "MCI"
    assert normalise_diagnosis("n/a", "x") is None


def test_discovery_never_drops_data_silently(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """#16 J: each of these used to lose every diagnosis, or the derivatives, without a word."""
    root = _raw_bids(tmp_path / "bids")
    participants = root / "participants.tsv"
    participants.write_text("participant_id\tdiagnosis\nSUB-01\tNC\nsub-02\tAD\n")  # case differs from sub-01/
    with pytest.raises(InputError, match="differs only in case from the folder sub-01"):
        discover(root)
    participants.write_bytes(b"\xef\xbb\xbfparticipant_id\tdiagnosis\nsub-01\tNC\nsub-02\tAD\n")  # Excel's BOM
    assert [s.diagnosis for s in discover(root)] == ["NC", "AD"]
    with pytest.raises(InputError, match="no 'group' column") as info:
        discover(root, diagnosis_column="group")
    assert "participant_id, diagnosis" in str(info.value)
    with pytest.raises(InputError, match="--derivatives folder not found"):
        discover(root, derivatives=[tmp_path / "fmriprep"])
    participants.write_text("participant_id\tdx\nsub-01\tNC\n")  # default column absent: warned, not fatal
    capsys.readouterr()
    assert [s.diagnosis for s in discover(root)] == [None, None]
    err = capsys.readouterr()
    assert "no 'diagnosis' column" in err.out + err.err and "not listed (sub-02)" in err.out + err.err


def test_a_label_later_commands_would_refuse_is_refused_at_discovery(tmp_path: Path) -> None:
    root = _raw_bids(tmp_path / "bids")
    long = "a" * 70
    _nifti(root / f"sub-{long}/dwi/sub-{long}_dwi.nii.gz", (4, 4, 4, 3))
    with pytest.raises(InputError, match="not a valid label"):
        discover(root)


def _two_visits(root: Path) -> Path:
    """sub-01 scanned twice: sessions.tsv gives each visit its own age and diagnosis (a converter)."""
    (root / "dataset_description.json").parent.mkdir(parents=True, exist_ok=True)
    (root / "dataset_description.json").write_text(json.dumps({"Name": "t", "BIDSVersion": "1.9.0"}))
    (root / "participants.tsv").write_text("participant_id\tdiagnosis\tage\tsex\nsub-01\tCN\t70\tF\n")
    (root / "task-rest_bold.json").write_text(json.dumps({"RepetitionTime": 2.5, "TaskName": "rest"}))
    for ses in ("ses-1", "ses-2", "ses-3"):
        base = f"sub-01/{ses}"
        _nifti(root / f"{base}/func/sub-01_{ses}_task-rest_bold.nii.gz", (4, 4, 4, 6))
        _nifti(root / f"{base}/dwi/sub-01_{ses}_dwi.nii.gz", (4, 4, 4, 3))
        (root / f"{base}/dwi/sub-01_{ses}_dwi.bval").write_text("0 1000 1000\n")
        (root / f"{base}/dwi/sub-01_{ses}_dwi.bvec").write_text("0 1 0\n0 0 1\n0 0 0\n")
    (root / "sub-01/sub-01_sessions.tsv").write_text(
        "session_id\tacq_time\tage\tdiagnosis\n"
        "ses-1\t2001-03-01T10:00:00\t70.5\tn/a\n"  # no visit diagnosis: the participant's
        "ses-2\t2004-03-01T10:00:00\t73.5\tMCI\n"
        "ses-3\tn/a\t\tAD\n"  # no visit age: the participant's
    )
    return root


def test_sessions_tsv_gives_each_row_its_visits_age_and_diagnosis(tmp_path: Path) -> None:
    rows = discover(_two_visits(tmp_path / "bids"))
    assert [r.session_id for r in rows] == ["ses-1", "ses-2", "ses-3"]
    assert [r.diagnosis for r in rows] == ["NC", "MCI", "AD"]
    assert [r.age for r in rows] == [70.5, 73.5, 70.0]
    assert {r.sex for r in rows} == {"F"}


def test_a_row_pairing_two_visits_with_different_diagnoses_has_no_diagnosis(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """ses-1 has only the BOLD (MCI), ses-2 only the DWI (AD): their one row mixes two visits, so neither
    visit's label describes it."""
    root = _two_visits(tmp_path / "bids")
    shutil.rmtree(root / "sub-01/ses-3")
    for image in (root / "sub-01/ses-1/dwi").iterdir():
        image.unlink()
    for image in (root / "sub-01/ses-2/func").iterdir():
        image.unlink()
    (root / "sub-01/sub-01_sessions.tsv").write_text(
        "session_id\tacq_time\tage\tdiagnosis\nses-1\t2001-03-01T10:00:00\t70.5\tMCI\nses-2\t2004-03-01T10:00:00\t73.5\tAD\n"
    )
    rows = discover(root)
    assert len(rows) == 1 and rows[0].bold_session == "ses-1" and rows[0].dwi_session == "ses-2"
    assert rows[0].diagnosis is None
    said = capsys.readouterr()
    assert "visits diagnosed MCI (ses-1) and AD (ses-2)" in " ".join((said.out + said.err).split())
