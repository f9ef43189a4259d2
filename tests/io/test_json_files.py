"""The guarded reader of the tool's own JSON files (and, with bom_ok, of files users write)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pds_mri.errors import InputError
from pds_mri.io.json_files import field, read_json


def test_a_byte_order_mark_is_accepted_only_where_users_write_the_file(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_bytes(b'\xef\xbb\xbf{"a": 1}')
    assert read_json(path, "filter file", bom_ok=True) == {"a": 1}
    with pytest.raises(InputError, match=r"model\.json is not valid JSON"):
        read_json(path, "model.json")  # the tool never writes one: the file was edited or damaged


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "not found; train again"),
        ("{", "not valid JSON"),
        ("[]", "not a JSON object"),
        (b"\xff\xfe", "cannot be read"),
    ],
)
def test_damaged_files_are_one_line_naming_them(tmp_path: Path, content: str | bytes | None, problem: str) -> None:
    path = tmp_path / "model.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(InputError, match=problem) as info:
        read_json(path, "model.json", "train again")
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_field_checks_presence_and_type_and_refuses_bools_as_numbers(tmp_path: Path) -> None:
    data = {"steps": 3, "flag": True}
    assert field(data, "steps", int, tmp_path) == 3
    with pytest.raises(InputError, match="missing field 'seed'"):
        field(data, "seed", int, tmp_path)
    with pytest.raises(InputError, match="field 'flag' is bool, expected int or float"):
        field(data, "flag", (int, float), tmp_path)
