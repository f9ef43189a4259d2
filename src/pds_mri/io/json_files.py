"""Reading the tool's own JSON files (run and prepared directories, sidecars, results): one guarded reader.

Every file the tool wrote itself can still be deleted, emptied or edited by hand before a later command reads
it; each of those is one `InputError` naming the file, never a KeyError or JSONDecodeError traceback.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pds_mri.errors import InputError

T = TypeVar("T")


def read_json(path: str | Path, what: str = "JSON file", hint: str = "", *, bom_ok: bool = False) -> dict[str, Any]:
    """The JSON object in `path`; `what` names the file's role in errors, `hint` says how to remake it.

    ``bom_ok`` for files a user or another tool wrote (a BIDS filter file, a dataset's description): editors on
    Windows save a UTF-8 byte-order mark there. The tool's own files never carry one, so there it is an error.
    """
    path = Path(path)
    tail = f"; {hint}" if hint else ""
    if not path.is_file():
        raise InputError(path, f"{what} not found{tail}")
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig" if bom_ok else "utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, f"{what} cannot be read ({exc.__class__.__name__}){tail}") from None
    except json.JSONDecodeError as exc:
        raise InputError(path, f"{what} is not valid JSON (line {exc.lineno}: {exc.msg}){tail}") from None
    if not isinstance(data, dict):
        raise InputError(path, f"{what} is not a JSON object{tail}")
    return data


def field(data: Mapping[str, Any], key: str, kind: type[T] | tuple[type, ...], path: str | Path) -> T:
    """`data[key]`, checked to be of `kind` (bool is not accepted as a number); an error names file and key."""
    if key not in data:
        raise InputError(path, f"missing field '{key}'")
    value = data[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        names = " or ".join(k.__name__ for k in kinds)
        raise InputError(path, f"field '{key}' is {type(value).__name__}, expected {names}")
    return value  # type: ignore[return-value]
