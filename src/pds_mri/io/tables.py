"""Reading the tool's own TSV indexes (cohort.tsv, synthesized.tsv): one clear error for a bad file."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from pds_mri.errors import InputError


def read_index(path: Path, required: Sequence[str], missing_hint: str) -> list[dict[str, str | None]]:
    """Rows of a tab-separated index whose header holds `required`; cells beyond the header are dropped."""
    if not path.is_file():
        raise InputError(path, f"not found; {missing_hint}")
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh, delimiter="\t")
            header = list(reader.fieldnames or [])
            rows = [{k: v for k, v in r.items() if k is not None} for r in reader]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InputError(path, f"not a readable TSV ({exc.__class__.__name__}: {exc})") from None
    missing = [c for c in required if c not in header]
    if missing:
        raise InputError(path, f"missing column(s) {missing}; {missing_hint}")
    return rows
