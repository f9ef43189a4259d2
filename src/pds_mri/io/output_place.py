"""Where an output folder may go: never into, or around, what the command reads.

Inputs are never modified. An output folder that is an input folder, lies inside one, or holds an input file
(a manifest `cohort.tsv` with the output set to its own folder) could overwrite what it reads; such a command
is refused before anything is created. A BIDS dataset is the one exception, as BIDS itself prescribes:
derivatives may live in `<dataset>/derivatives/<pipeline>/`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pds_mri.errors import InputError


def check_output_apart(
    out_dir: Path,
    inputs: Mapping[str, Path | None],
    may_nest: Mapping[str, Path | None] | None = None,
    bids_root: Path | None = None,
) -> None:
    """Refuse `out_dir` if it is or lies inside an input folder, or holds an input file. `inputs` and `may_nest`
    map a role ("prepared directory", ...) to its path; a `may_nest` folder may hold the output in a subfolder
    (a run's `RUN/synth`), never be it; `bids_root` allows `<bids_root>/derivatives/X`."""
    dst = Path(out_dir).resolve()
    if dst.exists() and not dst.is_dir():
        raise InputError(out_dir, "exists and is not a directory; choose another output folder")
    for role, path in (may_nest or {}).items():
        if path is not None and dst == Path(path).resolve():
            raise InputError(out_dir, f"output directory is the {role} {path}; choose another")
    for role, path in inputs.items():
        if path is None:
            continue
        src = Path(path).resolve()
        if src.is_dir():
            if dst == src:
                raise InputError(out_dir, f"output directory is the {role} {path}; choose another")
            if src in dst.parents and not _bids_derivative(dst, src, bids_root):
                where = " (BIDS derivatives go in <dataset>/derivatives/<name>)" if bids_root is not None else ""
                raise InputError(out_dir, f"output directory lies inside the {role} {path}{where}; choose another")
        elif dst == src.parent or dst in src.parents:
            raise InputError(
                out_dir, f"output directory holds the {role} {path}, which it could overwrite; choose another"
            )


def _bids_derivative(dst: Path, src: Path, bids_root: Path | None) -> bool:
    if bids_root is None or src != Path(bids_root).resolve():
        return False
    parts = dst.relative_to(src).parts
    return len(parts) >= 2 and parts[0] == "derivatives"
