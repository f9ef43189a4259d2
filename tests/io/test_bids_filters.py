"""`--session-label` and `--bids-filter-file` (fMRIPrep's format) choose the runs discovery may pick."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from pds_mri.errors import InputError
from pds_mri.io.bids import discover
from pds_mri.io.bids_filters import read_bids_filters


def _nifti(path: Path, shape: tuple[int, ...]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(np.ones(shape, np.float32), np.eye(4)), path)


def _sessions_bids(root: Path) -> Path:
    """sub-01 with two sessions (ses-02 has a second, motor BOLD task and a T1w with acq-mprage); sub-02 only ses-01."""
    root.mkdir(parents=True)
    (root / "dataset_description.json").write_text(json.dumps({"Name": "t", "BIDSVersion": "1.9.0"}))
    (root / "participants.tsv").write_text("participant_id\tdiagnosis\nsub-01\tNC\nsub-02\tAD\n")
    (root / "task-rest_bold.json").write_text(json.dumps({"RepetitionTime": 2.0, "TaskName": "rest"}))
    (root / "task-motor_bold.json").write_text(json.dumps({"RepetitionTime": 2.0, "TaskName": "motor"}))
    for sub, sessions in (("01", ("01", "02")), ("02", ("01",))):
        for ses in sessions:
            base = root / f"sub-{sub}" / f"ses-{ses}"
            stem = f"sub-{sub}_ses-{ses}"
            _nifti(base / "func" / f"{stem}_task-rest_bold.nii.gz", (4, 4, 4, 6))
            _nifti(base / "dwi" / f"{stem}_dwi.nii.gz", (4, 4, 4, 3))
            (base / "dwi" / f"{stem}_dwi.bval").write_text("0 1000 1000\n")
            (base / "dwi" / f"{stem}_dwi.bvec").write_text("0 1 0\n0 0 1\n0 0 0\n")
    _nifti(root / "sub-01/ses-02/func/sub-01_ses-02_task-motor_bold.nii.gz", (4, 4, 4, 6))
    _nifti(root / "sub-01/ses-02/anat/sub-01_ses-02_acq-mprage_T1w.nii.gz", (4, 4, 4))
    return root


def _filters(tmp_path: Path, content: object) -> Path:
    path = tmp_path / "filters.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def test_session_label_restricts_every_pick_and_drops_subjects_without_that_session(tmp_path: Path) -> None:
    root = _sessions_bids(tmp_path / "bids")
    rows = {s.row_id: s for s in discover(root)}  # without a label: one row per session
    assert sorted(rows) == ["sub-01_ses-01", "sub-01_ses-02", "sub-02_ses-01"]
    first = rows["sub-01_ses-01"]
    assert first.bold is not None and first.bold.name == "sub-01_ses-01_task-rest_bold.nii.gz"
    assert rows["sub-01_ses-02"].bold is not None and "ses-02_task-rest" in rows["sub-01_ses-02"].bold.name
    (only,) = discover(root, session_labels=["ses-02"])  # 'ses-' optional
    assert only.participant_id == "sub-01"
    assert only.bold is not None and only.bold.name == "sub-01_ses-02_task-rest_bold.nii.gz"
    assert only.dwi is not None and "ses-02" in only.dwi.name and only.bval is not None and "ses-02" in only.bval.name
    assert only.t1w is not None and "ses-02" in only.t1w.name
    with pytest.raises(InputError, match=r"session\(s\) not found: ses-07"):
        discover(root, session_labels=["02", "07"])


def test_filter_file_adds_to_and_overrides_the_pick(tmp_path: Path) -> None:
    root = _sessions_bids(tmp_path / "bids")
    motor = _filters(tmp_path, {"bold": {"task": "motor"}, "t1w": {"acquisition": None}})
    subjects = {s.participant_id: s for s in discover(root, bids_filter_file=motor)}
    assert subjects["sub-01"].bold is not None and "task-motor" in subjects["sub-01"].bold.name  # rest overridden
    assert subjects["sub-02"].bold is None and subjects["sub-02"].has_dmri  # no motor run: dMRI only
    assert subjects["sub-01"].t1w is None  # its only T1w has an acquisition entity; null means absent
    both = _filters(tmp_path, {"dwi": {"session": ["02"]}})
    assert [s.participant_id for s in discover(root, bids_filter_file=both) if s.dwi is not None] == ["sub-01"]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "not a JSON object; it must hold a JSON object"),
        ({"anat": {"suffix": "T1w"}}, "unknown query anat"),
        ({"bold": "rest"}, '"bold" must be an object'),
        ({"bold": {"task": {"nested": 1}}}, '"bold.task": expected a string'),
        ({"bold": {"task": []}}, '"bold.task": expected a string'),
    ],
)
def test_a_bad_filter_file_is_one_line_naming_it(tmp_path: Path, content: object, problem: str) -> None:
    path = _filters(tmp_path, content)
    with pytest.raises(InputError, match=problem) as info:
        read_bids_filters(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_an_entity_the_dataset_does_not_know_is_refused(tmp_path: Path) -> None:
    root = _sessions_bids(tmp_path / "bids")
    with pytest.raises(InputError, match='"bold": unknown BIDS entity tsk'):
        discover(root, bids_filter_file=_filters(tmp_path, {"bold": {"tsk": "rest"}}))
    with pytest.raises(InputError, match="--bids-filter-file not found"):
        discover(root, bids_filter_file=tmp_path / "absent.json")


def test_a_manifest_refuses_session_and_filters(tmp_path: Path) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text("participant_id,diagnosis,bold\nsub-01,NC,x.nii.gz\n")
    with pytest.raises(InputError, match="not rows of a manifest"):
        discover(manifest, session_labels=["01"])


def test_a_filter_file_saved_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    """Windows editors write a UTF-8 BOM; the user's file is still valid JSON to them."""
    path = tmp_path / "filters.json"
    path.write_bytes(b'\xef\xbb\xbf{"bold": {"task": "rest"}}')
    assert read_bids_filters(path) == {"bold": {"task": "rest"}}
