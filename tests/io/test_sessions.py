"""The session rule (io/sessions.py): which sessions become rows and where each image of a row comes from."""

from __future__ import annotations

from pds_mri.io.sessions import ABSENT, SessionRow, plan_sessions


def test_a_subject_without_sessions_is_one_row_as_before() -> None:
    rows, notes = plan_sessions("sub-1", [None], [None], [None])
    assert rows == [SessionRow(None, None, None, None)] and notes == []
    rows, _ = plan_sessions("sub-1", [None], [], [])
    assert rows == [SessionRow(None, None, ABSENT, None)]


def test_every_complete_session_is_a_row_and_incomplete_ones_are_skipped_with_a_warning() -> None:
    rows, notes = plan_sessions("sub-1", ["ses-1", "ses-2", "ses-3"], ["ses-1", "ses-2"], ["ses-1", "ses-2"])
    assert rows == [SessionRow("ses-1", "ses-1", "ses-1", "ses-1"), SessionRow("ses-2", "ses-2", "ses-2", "ses-2")]
    assert notes == ["sub-1 ses-3: only a BOLD run; skipped (sub-1 has complete session(s) ses-1, ses-2)"]


def test_without_a_complete_session_the_nearest_session_lends_the_missing_modality() -> None:
    rows, notes = plan_sessions("sub-1", ["ses-1"], ["ses-2", "ses-3"], ["ses-1"])  # label order: ses-2 nearest
    assert rows == [SessionRow("ses-1", "ses-1", "ses-2", "ses-1"), SessionRow("ses-3", "ses-1", "ses-3", "ses-1")]
    assert notes[0] == "sub-1 ses-1: no DWI in this session; paired with the DWI of ses-2, the nearest session with one"
    assert "sub-1 ses-2" not in " ".join(notes)  # ses-2's pair is ses-1's row: not listed twice
    times = {"ses-1": 0.0, "ses-2": 9e8, "ses-3": 3e7}  # acq_time: ses-3 is a year after ses-1, ses-2 far later
    rows, _ = plan_sessions("sub-1", ["ses-1"], ["ses-2", "ses-3"], [], times)
    assert rows[0] == SessionRow("ses-1", "ses-1", "ses-3", ABSENT)


def test_one_modality_only_gives_a_row_per_session_and_labels_sort_as_numbers() -> None:
    rows, notes = plan_sessions("sub-1", ["ses-10", "ses-2"], [], [])
    assert [r.session for r in rows] == ["ses-2", "ses-10"] and notes == []
    assert all(r.dwi == ABSENT and r.bold == r.session for r in rows)


def test_the_t1w_falls_back_to_the_nearest_session_then_to_one_without_a_session() -> None:
    rows, notes = plan_sessions("sub-1", ["ses-1", "ses-3"], ["ses-1", "ses-3"], ["ses-2"])
    assert [r.t1w for r in rows] == ["ses-2", "ses-2"]  # a tie in distance, and the only one anyway
    assert notes == [f"sub-1 {s}: no T1w in this session; using the T1w of ses-2" for s in ("ses-1", "ses-3")]
    rows, notes = plan_sessions("sub-1", ["ses-1"], ["ses-1"], [None])
    assert rows[0].t1w is None and notes == ["sub-1 ses-1: no T1w in this session; using the T1w without a session"]
