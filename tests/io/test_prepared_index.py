"""A partial re-run of `pds prepare` keeps the other subjects' (and sessions') rows, never a replaced one."""

from __future__ import annotations

from pathlib import Path

from pds_mri.config import dump_config, preset
from pds_mri.io.inputs import SubjectInputs
from pds_mri.io.prepared_index import kept_rows


def test_a_participant_label_rerun_replaces_the_participants_old_rows(tmp_path: Path) -> None:
    """An index written before sessions were read has `sub-01`; redoing sub-01 now yields sub-01_ses-1 and
    _ses-2, and keeping the old row listed the same scan twice (training and the statistics counted it twice)."""

    config = preset("cpu")
    out = tmp_path / "prepared"
    out.mkdir()
    (out / "config.yaml").write_text(dump_config(config), encoding="utf-8")
    (out / "cohort.tsv").write_text(
        "participant_id\tsession_id\tdiagnosis\n"
        "sub-01\tn/a\tNC\nsub-02\tn/a\tAD\nsub-03\tses-1\tNC\nsub-03\tses-2\tNC\n"
    )
    redo = [SubjectInputs("sub-01", session_id="ses-1"), SubjectInputs("sub-01", session_id="ses-2")]
    kept = kept_rows(out, ("01",), (), config, redo)
    assert [(r["participant_id"], r["session_id"]) for r in kept] == [
        ("sub-02", "n/a"), ("sub-03", "ses-1"), ("sub-03", "ses-2")
    ]  # fmt: skip
    # under --session-label only the asked-for sessions are redone: the participant's other sessions stay
    kept = kept_rows(out, ("03",), ("1",), config, [SubjectInputs("sub-03", session_id="ses-1")])
    assert [(r["participant_id"], r["session_id"]) for r in kept] == [
        ("sub-01", "n/a"), ("sub-02", "n/a"), ("sub-03", "ses-2")
    ]  # fmt: skip
