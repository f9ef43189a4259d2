"""Schemas of the benchmark's record files, used by the writer and every reader alike.

`pds benchmark` resumes from these files and `pds diagnose` / `pds report` read them, possibly long after and
after a crash or a hand edit: a reader gets a typed record or one `InputError` naming the file and the field,
never a KeyError deep inside a table. Extra fields are kept, so a newer tool's file still reads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from pds_mri.errors import InputError
from pds_mri.io.json_files import read_json


class _Record(BaseModel):
    model_config = ConfigDict(extra="allow")
    #: what the file is, in error messages
    ROLE: ClassVar[str] = "record"


class TrainedRecord(_Record):
    """`runs/<model>/fold-k/trained.json`: the fold's training finished."""

    ROLE: ClassVar[str] = "benchmark training record"

    model: str
    fold: int
    train_seconds: float  # optimiser-step seconds, a shared stage 1 included
    resumed: bool
    stage1_from: str | None  # the model whose stage 1 this run's stage 2 was trained on


class FoldRecord(_Record):
    """`runs/<model>/fold-k/done.json`: the fold is synthesised and evaluated; its per-subject metric rows."""

    ROLE: ClassVar[str] = "benchmark fold record"

    model: str
    fold: int
    trained_model: str  # the model whose run synthesised (itself, or the run a resynthesis reused)
    run_dir: str  # that run, relative to the benchmark directory
    synthesis_steps: int | None
    synthesis_samples: int
    synthesis_mode: str | None
    test_subjects: list[str]
    train_seconds: float
    rows: list[dict[str, Any]]


R = TypeVar("R", bound=_Record)


def read_record(path: Path, schema: type[R], hint: str = "") -> R:
    """The record in `path`, checked against `schema`; one error naming the file and the first bad field."""
    data = read_json(path, schema.ROLE, hint)
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        tail = f"; {hint}" if hint else ""
        raise InputError(path, f"field '{where}': {first['msg']}{tail}") from None


def record_json(record: _Record) -> dict[str, Any]:
    """What the writer puts in the file: the fields in schema order (then any extra ones)."""
    return record.model_dump(mode="json")
