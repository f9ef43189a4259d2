"""report/read.py: the report's readers turn a missing or broken file into None, never an exception."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pds_mri.errors import InputError
from pds_mri.io.result_files import BenchmarkResults, EvaluationMetrics
from pds_mri.report.read import existing_dir, is_evaluation, is_table, read_json_or_none, read_result, read_text


def test_readers_tolerate_missing_broken_and_binary_files(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "binary.json").write_bytes(b"\xff\xfe\x00")
    (tmp_path / "ok.json").write_text('{"rows": [], "protocol": {}}')
    assert read_json_or_none(tmp_path / "missing.json") is None and read_json_or_none(tmp_path / "broken.json") is None
    assert read_json_or_none(tmp_path / "binary.json") is None and read_text(tmp_path / "binary.json") is None
    assert read_json_or_none(tmp_path / "ok.json") == {"rows": [], "protocol": {}}
    assert is_evaluation(tmp_path / "ok.json") and not is_evaluation(tmp_path / "broken.json")
    assert read_text(tmp_path) is None  # a directory


def test_is_table_wants_a_non_empty_list_of_rows() -> None:
    assert is_table([{"a": 1}]) and not is_table([]) and not is_table([{"a": 1}, 2]) and not is_table({"a": 1})


def test_a_named_directory_is_found_as_written_relative_or_moved_beside(tmp_path: Path) -> None:
    base = tmp_path / "moved" / "eval"
    base.mkdir(parents=True)
    (tmp_path / "moved" / "synth").mkdir()
    assert existing_dir(str(tmp_path / "moved" / "synth"), base) == tmp_path / "moved" / "synth"
    assert existing_dir("/gone/elsewhere/synth", base) == tmp_path / "moved" / "synth"  # a sibling of eval
    assert existing_dir("missing", base) is None and existing_dir(None, base) is None and existing_dir("", base) is None


def test_a_result_file_is_read_through_its_schema_or_is_none_and_the_bad_field(tmp_path: Path) -> None:
    (tmp_path / "metrics.json").write_text(json.dumps({"protocol": {}, "rows": [{"participant_id": "sub-01"}]}))
    payload, problem = read_result(tmp_path / "metrics.json", EvaluationMetrics)
    assert payload is None and "field 'rows.0'" in problem and str(tmp_path / "metrics.json") in problem
    assert not is_evaluation(tmp_path / "metrics.json")
    assert read_result(tmp_path / "missing.json", EvaluationMetrics)[1].endswith("not found")
    (tmp_path / "results.json").write_text(json.dumps({"table": [{"model": "pds"}], "extra": 1}))
    assert read_result(tmp_path / "results.json", BenchmarkResults) == ({"table": [{"model": "pds"}], "extra": 1}, "")


def test_the_report_notes_a_damaged_metrics_json_and_results_json_naming_the_field(tmp_path: Path) -> None:
    from pds_mri.report.html import Page
    from pds_mri.report.pages.benchmark import benchmark_page
    from pds_mri.report.pages.evaluation import add_evaluation, evaluation_page

    bad = {"protocol": {}, "rows": [], "summary": {"fmri2dmri": {"subjects": "two"}}}
    (tmp_path / "metrics.json").write_text(json.dumps(bad))
    page = Page("t")
    add_evaluation(page, tmp_path / "metrics.json", "Evaluation")
    ((_, heading, body),) = page.sections
    assert heading == "Evaluation" and "not a readable `pds evaluate` metrics.json" in body
    assert "field &#x27;summary.fmri2dmri.subjects&#x27;" in body or "field 'summary.fmri2dmri.subjects'" in body
    with pytest.raises(InputError, match=r"field 'summary\.fmri2dmri\.subjects'"):
        evaluation_page(tmp_path)  # the page's one subject: refused, naming the field

    bench = tmp_path / "bench"
    bench.mkdir()
    (bench / "results.json").write_text(json.dumps({"table": [{"model": "pds"}], "folds": "three"}))
    (bench / "results.md").write_text("# Results\n")
    text = benchmark_page(bench).render()
    assert "results.json is not a readable JSON object" in text and "folds" in text and "valid integer" in text
    (bench / "results.md").unlink()
    with pytest.raises(InputError, match="field 'folds'"):
        benchmark_page(bench)
