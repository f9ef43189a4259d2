"""Tolerant reading of what a report shows: a missing or unreadable file is None (the page says so in a note),
never an exception, so a report of a half-finished or damaged run still renders what is there. The tool's
result files are read through their schemas (io/result_files.py): one that fails is None and the reason, which
names the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeGuard

from pds_mri.errors import InputError
from pds_mri.io.result_files import EvaluationMetrics, R, read_record, result_json


def read_json_or_none(path: Path) -> Any:
    """The parsed JSON of `path`, or None when it is missing, unreadable or not JSON."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None


def read_text(path: Path) -> str | None:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def is_table(value: Any) -> TypeGuard[list[dict[str, Any]]]:
    """A non-empty list of dict rows (what `html.table` renders)."""
    return isinstance(value, list) and bool(value) and all(isinstance(r, dict) for r in value)


def read_result(path: Path, schema: type[R]) -> tuple[dict[str, Any] | None, str]:
    """The result file checked against `schema`, as its writer wrote it (the fields it has, in schema order),
    and ''; or None and why not: the file and the problem (missing, not JSON, or the first bad field)."""
    try:
        return result_json(read_record(path, schema)), ""
    except InputError as exc:
        return None, str(exc)


def is_evaluation(path: Path) -> bool:
    """Whether `path` is a readable `pds evaluate` metrics.json (it passes `EvaluationMetrics`)."""
    return read_result(path, EvaluationMetrics)[0] is not None


def existing_dir(value: Any, base: Path) -> Path | None:
    """A directory named in a result file, found as written, relative to `base`, or as a sibling of `base`
    (a run directory that was moved with its outputs); None when it is not there."""
    if not value:
        return None
    for candidate in (Path(value), base / value, base.parent / Path(value).name):
        if candidate.is_dir():
            return candidate
    return None
