"""report/read.py: the report's readers turn a missing or broken file into None, never an exception."""

from __future__ import annotations

from pathlib import Path

from pds_mri.report.read import existing_dir, is_evaluation, is_table, read_json, read_text


def test_readers_tolerate_missing_broken_and_binary_files(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "binary.json").write_bytes(b"\xff\xfe\x00")
    (tmp_path / "ok.json").write_text('{"rows": [], "protocol": {}}')
    assert read_json(tmp_path / "missing.json") is None and read_json(tmp_path / "broken.json") is None
    assert read_json(tmp_path / "binary.json") is None and read_text(tmp_path / "binary.json") is None
    assert read_json(tmp_path / "ok.json") == {"rows": [], "protocol": {}}
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
