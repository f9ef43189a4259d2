"""`--bids-filter-file` and `--session-label`: which runs `pds prepare` may pick, in fMRIPrep's format.

The filter file is a JSON object with one pybids query per kind of input, e.g.
``{"bold": {"task": "rest", "acquisition": "mb4"}, "dwi": {"run": "1"}, "t1w": {"session": ["01", "02"]}}``.
Its entities are added to (and may override) the query that picks each run, as in fMRIPrep; a value may be a
string, a number, a list of them, or null (the entity must be absent). `--session-label 01 02` restricts every
query to those sessions. Unknown query names or entities are errors, never ignored: a filter that silently
matched nothing would prepare other runs than the user meant.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pds_mri.errors import InputError
from pds_mri.io.json_files import read_json

#: The inputs `pds prepare` picks, by the names fMRIPrep's filter files use.
QUERIES = ("bold", "dwi", "t1w")
BidsFilters = dict[str, dict[str, Any]]


def read_bids_filters(path: Path) -> BidsFilters:
    """The validated queries of a filter file (each entity value a scalar, a list of scalars, or null)."""
    path = Path(path)
    data = read_json(
        path, "--bids-filter-file", 'it must hold a JSON object, e.g. {"bold": {"task": "rest"}}', bom_ok=True
    )
    unknown = sorted(set(data) - set(QUERIES))
    if unknown:
        raise InputError(path, f"unknown query {', '.join(unknown)} (pds prepare picks {', '.join(QUERIES)})")
    filters: BidsFilters = {}
    for query, entities in data.items():
        if not isinstance(entities, dict):
            raise InputError(path, f'"{query}" must be an object of BIDS entities, e.g. {{"task": "rest"}}')
        for entity, value in entities.items():
            values = value if isinstance(value, list) else [value]
            if not values or not all(v is None or isinstance(v, str | int | float) for v in values):
                raise InputError(path, f'"{query}.{entity}": expected a string, a number, a list of them, or null')
        filters[query] = dict(entities)
    return filters


def check_entities(path: Path | None, filters: BidsFilters, known: Sequence[str]) -> None:
    """Every filtered entity is one the dataset's index knows (pybids would otherwise raise or ignore it)."""
    for query, entities in filters.items():
        unknown = sorted(set(entities) - set(known))
        if unknown:
            source = path if path is not None else Path("--bids-filter-file")
            raise InputError(
                source, f'"{query}": unknown BIDS entit{"ies" if len(unknown) > 1 else "y"} {", ".join(unknown)}'
            )


def query_for(kind: str, filters: Mapping[str, Mapping[str, Any]], sessions: Sequence[str]) -> dict[str, Any]:
    """The extra pybids query of one kind of input: its filters, restricted to `sessions` when given."""
    extra = dict(filters.get(kind, {}))
    if sessions:
        extra["session"] = [s.removeprefix("ses-") for s in sessions]
    return extra
