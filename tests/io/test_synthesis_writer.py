"""A synthesis directory's index across runs, and the registration matrix its native images go through."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pds_mri.errors import InputError
from pds_mri.io.synthesis_writer import SYNTH_COLUMNS, merge_index, native_to_mni_matrix


def _row(pid: str, direction: str) -> dict:
    return {c: "" for c in SYNTH_COLUMNS} | {"participant_id": pid, "direction": direction}


def test_an_earlier_runs_rows_stay_while_their_files_exist(tmp_path: Path) -> None:
    """One direction (or a few subjects) per call builds one index; a row whose files are gone is dropped."""
    index = tmp_path / "synthesized.tsv"
    for name in ("a.nii.gz", "a.json"):
        (tmp_path / name).write_text("x")
    header = "\t".join(SYNTH_COLUMNS)
    kept = "\t".join({"participant_id": "sub-01", "direction": "dmri2fmri", "synthesis": "a.nii.gz",
                      "sidecar": "a.json"}.get(c, "") for c in SYNTH_COLUMNS)  # fmt: skip
    gone = "\t".join({"participant_id": "sub-02", "direction": "dmri2fmri", "synthesis": "b.nii.gz",
                      "sidecar": "b.json"}.get(c, "") for c in SYNTH_COLUMNS)  # fmt: skip
    index.write_text(f"{header}\n{kept}\n{gone}\n")
    merged = merge_index(index, [_row("sub-01", "fmri2dmri"), _row("sub-03", "dmri2fmri")])
    assert [(r["participant_id"], r["direction"]) for r in merged] == [
        ("sub-01", "dmri2fmri"), ("sub-01", "fmri2dmri"), ("sub-03", "dmri2fmri")
    ]  # fmt: skip


def test_the_recorded_registration_must_be_a_finite_4x4(tmp_path: Path) -> None:
    row = {"dmri_xfm": "x.json"}
    assert native_to_mni_matrix(tmp_path, {}, "dmri") is None  # not registered: already in MNI
    (tmp_path / "x.json").write_text(json.dumps({"Matrix": np.eye(4).tolist()}))
    assert np.array_equal(native_to_mni_matrix(tmp_path, row, "dmri"), np.eye(4))
    (tmp_path / "x.json").write_text(json.dumps({"Matrix": np.eye(3).tolist()}))
    with pytest.raises(InputError, match="finite 4x4"):
        native_to_mni_matrix(tmp_path, row, "dmri")
