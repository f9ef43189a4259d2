"""The benchmark's record files: what the writer writes reads back; a damaged one is one error naming the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pds_mri.errors import InputError
from pds_mri.io.result_files import FoldRecord, TrainedRecord, read_record, record_json

FOLD = {
    "model": "pds-mean4",
    "fold": 1,
    "trained_model": "pds",
    "run_dir": "runs/pds/fold-1",
    "synthesis_steps": None,
    "synthesis_samples": 4,
    "synthesis_mode": "sample",
    "test_subjects": ["sub-01", "sub-04"],
    "train_seconds": 12.5,
    "rows": [{"participant_id": "sub-01", "direction": "fmri2dmri", "psnr": 21.3}],
}


def test_a_record_round_trips_in_field_order(tmp_path: Path) -> None:
    path = tmp_path / "done.json"
    path.write_text(json.dumps(record_json(FoldRecord(**FOLD))))
    record = read_record(path, FoldRecord)
    assert record_json(record) == FOLD and list(record_json(record)) == list(FOLD)
    trained = TrainedRecord(model="pds", fold=0, train_seconds=3.0, resumed=False, stage1_from=None)
    (tmp_path / "trained.json").write_text(json.dumps(record_json(trained)))
    assert read_record(tmp_path / "trained.json", TrainedRecord) == trained


def test_extra_fields_of_a_newer_tool_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "done.json"
    path.write_text(json.dumps({**FOLD, "new_field": [1, 2]}))
    assert record_json(read_record(path, FoldRecord))["new_field"] == [1, 2]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "not valid JSON"),
        ("[1, 2]", "not a JSON object"),
        (json.dumps({k: v for k, v in FOLD.items() if k != "rows"}), "field 'rows'"),
        (json.dumps({**FOLD, "fold": "one"}), "field 'fold'"),
        (json.dumps({**FOLD, "test_subjects": ["sub-01", None]}), "field 'test_subjects.1'"),
    ],
)
def test_a_damaged_record_is_one_error_naming_the_file(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "done.json"
    path.write_text(content)
    with pytest.raises(InputError, match=message) as info:
        read_record(path, FoldRecord, "delete the fold's folder to redo it")
    assert str(path) in str(info.value) and "\n" not in str(info.value)
