"""The benchmark's record files: what the writer writes reads back; a damaged one is one error naming the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pds_mri.errors import InputError
from pds_mri.io.result_files import (
    BenchmarkResults,
    DiagnosisResult,
    EvaluationMetrics,
    FoldRecord,
    TrainedRecord,
    read_record,
    record_json,
    result_json,
)

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


# ------------------------------------------------------------------------- result files (metrics, results, diagnosis)

RESULTS = Path(__file__).parents[2] / "benchmarks" / "results"
METRICS = {
    "GeneratedBy": {"Name": "pds-mri", "Version": "0.1.0", "Command": "pds evaluate"},
    "protocol": {"scale": "[0, 1]", "regions": {"brain": "mask"}},
    "inputs": {"synth_dir": "/s", "prepared_dir": "/p", "synthesized_tsv_sha256": "ab"},
    "metrics": ["psnr", "ssim"],
    "summary": {"fmri2dmri": {"subjects": 2, "psnr": {"mean": 21.0, "std": None, "n": 1}}},
    "rows": [
        {"participant_id": "sub-01", "session_id": "ses-1", "direction": "fmri2dmri", "psnr": 21, "synthesis": "a"}
    ],
    "skipped": {"count": 1, "rows": [{"participant_id": "sub-02", "direction": "fmri2dmri", "reason": "no map"}]},
    "group_differences": {"protocol": {"what": "x"}, "rows": [], "disease_region": None},
    "calibration": {"columns": ["uncertainty_mean"], "protocol": {"what": "y"}, "directions": {}},
    "seconds": 0.5,
}


def _written(tmp_path: Path, name: str, data: object) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


def test_metrics_json_round_trips_byte_for_byte_with_its_open_rows_in_order(tmp_path: Path) -> None:
    path = _written(tmp_path, "metrics.json", METRICS)
    metrics = read_record(path, EvaluationMetrics)
    assert metrics.summary is not None and metrics.summary["fmri2dmri"].subjects == 2
    assert json.dumps(result_json(metrics), indent=2) + "\n" == path.read_text()  # ints stay ints, order kept
    minimal = read_record(_written(tmp_path, "old.json", {"protocol": {}, "rows": []}), EvaluationMetrics)
    assert result_json(minimal) == {"protocol": {}, "rows": []}  # absent fields stay absent


@pytest.mark.parametrize(
    ("name", "schema"),
    [
        ("pilot/results.json", BenchmarkResults),
        ("faithful/results.json", BenchmarkResults),
        ("pilot/diagnosis.json", DiagnosisResult),
        ("diagnosis90/diagnosis.json", DiagnosisResult),
    ],
)
def test_the_committed_result_files_read_back_byte_for_byte(name: str, schema: type) -> None:
    """Files of earlier versions (pilot lacks shared_runs, group_differences, comparisons) read and re-dump."""
    path = RESULTS / name
    assert json.dumps(result_json(read_record(path, schema)), indent=2) == json.dumps(
        json.loads(path.read_text()), indent=2
    )


@pytest.mark.parametrize(
    ("schema", "data", "message"),
    [
        (EvaluationMetrics, {**METRICS, "rows": [{"participant_id": "sub-01", "direction": "f"}]}, "field 'rows.0'"),
        (EvaluationMetrics, {k: v for k, v in METRICS.items() if k != "protocol"}, "field 'protocol'"),
        (EvaluationMetrics, {**METRICS, "summary": {"f": {"subjects": 1, "psnr": 3}}}, "field 'summary.f.psnr'"),
        (BenchmarkResults, {"table": [], "folds": "three"}, "field 'folds'"),
        (BenchmarkResults, {"table": [], "per_model": {"pds": {"complete": True}}}, "field 'per_model.pds."),
        (BenchmarkResults, {"folds": 3}, "field 'table'"),
        (DiagnosisResult, {"table": [{"protocol": "real->real", "group": "main"}]}, "field 'table.0.description'"),
        (DiagnosisResult, {"table": [], "class_counts": {"NC": "eight"}}, "field 'class_counts.NC'"),
    ],
)
def test_a_damaged_result_file_is_one_error_naming_the_field(
    tmp_path: Path, schema: type, data: dict, message: str
) -> None:
    path = _written(tmp_path, "result.json", data)
    with pytest.raises(InputError, match=message) as info:
        read_record(path, schema)
    assert str(path) in str(info.value) and "\n" not in str(info.value)
