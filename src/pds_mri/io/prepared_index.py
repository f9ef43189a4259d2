"""The rows a partial `pds prepare` re-run keeps in an existing prepared directory's cohort.tsv."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pds_mri.config import Config, dump_config
from pds_mri.errors import InputError
from pds_mri.io import layout
from pds_mri.io.inputs import SubjectInputs


def kept_rows(
    out_dir: Path,
    participant_labels: Sequence[str],
    session_labels: Sequence[str],
    config: Config,
    subjects: list[SubjectInputs],
) -> list[dict]:
    """With ``--participant-label`` on an existing prepared directory, the other subjects' rows stay in
    cohort.tsv (a partial re-run adds or refreshes subjects and sessions; it never drops the rest). Their maps
    were made with the directory's config, so a different config is refused before anything is written.

    A redone participant's old rows go, whatever their session (an index written before sessions were read
    has a `sub-X` row that its new `sub-X_ses-Y` rows replace: keeping it would list the scan twice), except,
    under ``--session-label``, the rows of the sessions that were not asked for."""
    from pds_mri.io.tables import read_index

    index = Path(out_dir) / layout.COHORT_TSV
    if not participant_labels or not index.is_file():
        return []
    old_config = Path(out_dir) / layout.PREPARED_CONFIG
    if not old_config.is_file() or old_config.read_text(encoding="utf-8") != dump_config(config):
        raise InputError(
            old_config,
            "this prepared directory was made with another configuration; --participant-label adds subjects to it "
            "only with the same one (re-run without --participant-label, or choose a new folder)",
        )
    rows = read_index(index, ("participant_id",), "the index `pds prepare` writes")
    redone = {s.participant_id for s in subjects}
    asked = {layout.session_of({layout.SESSION_COLUMN: label}) for label in session_labels}

    def replaced(row: dict) -> bool:
        if row["participant_id"] not in redone:
            return False
        return not asked or layout.session_of(row) in asked or layout.session_of(row) is None

    return [dict(r) for r in rows if r.get("participant_id") and not replaced(dict(r))]
