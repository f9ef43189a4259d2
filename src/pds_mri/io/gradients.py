"""Validated reading of a DWI's gradient table (.bval / .bvec, FSL/BIDS text format).

Checked here rather than left to dipy so the user learns which file is wrong and why, before any fit.
BIDS writes bvecs as 3 rows (x, y, z) of N columns; an N x 3 table (as in dipy's bundled small_64D) is
accepted when N matches the volume count and N != 3, because then the layout is unambiguous.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from pds_mri.errors import InputError
from pds_mri.io.nifti import check_file

PathLike = str | os.PathLike[str]

UNIT_NORM_TOLERANCE = 0.05  # |norm - 1| accepted for diffusion-weighted directions, then renormalised


def _read_table(path: Path) -> np.ndarray:
    """Whitespace-separated numbers as a 2D array (rows = lines), with a precise error for bad text."""
    check_file(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        raise InputError(path, "not a text file of numbers") from None
    rows: list[list[float]] = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        tokens = line.split()
        if not tokens:
            continue
        try:
            rows.append([float(tok) for tok in tokens])
        except ValueError:
            bad = next(tok for tok in tokens if not _is_float(tok))
            raise InputError(path, f"non-numeric value {bad[:20]!r} on line {line_no}") from None
    if not rows:
        raise InputError(path, "contains no numbers")
    lengths = sorted({len(r) for r in rows})
    if len(lengths) > 1:
        raise InputError(path, f"ragged table: rows have {lengths} values")
    return np.asarray(rows, dtype=np.float64)


def _is_float(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _read_bvals(path: Path, n_volumes: int | None) -> np.ndarray:
    table = _read_table(path)
    if min(table.shape) != 1:
        raise InputError(path, f"expected one row of b-values, got a {table.shape[0]}x{table.shape[1]} table")
    bvals = table.ravel()
    if n_volumes is not None and bvals.size != n_volumes:
        raise InputError(path, f"{bvals.size} b-values but the DWI has {n_volumes} volumes")
    if not np.all(np.isfinite(bvals)):
        raise InputError(path, "contains NaN or Inf b-values")
    if np.any(bvals < 0):
        raise InputError(path, f"negative b-value {bvals.min():g} (volume {int(np.argmin(bvals))})")
    return bvals


def _read_bvecs(path: Path, n: int) -> np.ndarray:
    table = _read_table(path)
    if table.shape == (3, n):
        return table.T.copy()
    if table.shape == (n, 3):  # transposed layout; n != 3 here, so unambiguous
        return table.copy()
    raise InputError(
        path,
        f"expected 3 rows (x, y, z) of {n} directions to match the b-values, "
        f"got a {table.shape[0]}x{table.shape[1]} table",
    )


def read_gradients(
    bval_path: PathLike, bvec_path: PathLike, n_volumes: int | None, b0_threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """Return bvals (N,) and unit bvecs (N, 3) after checking them against the DWI's volume count.

    Volumes with b <= b0_threshold count as b0 (scanners write b = 5 or 10); their direction is unused,
    so it may be zero or NaN (read as zero). `n_volumes=None` skips the count check (unreadable DWI).
    Requires at least one b0 and one diffusion-weighted volume.
    """
    bval_path, bvec_path = Path(bval_path), Path(bvec_path)
    bvals = _read_bvals(bval_path, n_volumes)
    is_b0 = bvals <= b0_threshold
    if not np.any(is_b0):
        raise InputError(bval_path, f"no b0 volume (b <= {b0_threshold:g}); the smallest b-value is {bvals.min():g}")
    if np.all(is_b0):
        raise InputError(bval_path, f"no diffusion-weighted volume: every b-value is <= {b0_threshold:g}")
    bvecs = _read_bvecs(bvec_path, bvals.size)
    bad_values = ~np.isfinite(bvecs).all(axis=1)
    if np.any(bad_values & ~is_b0):
        vol = int(np.flatnonzero(bad_values & ~is_b0)[0])
        raise InputError(bvec_path, f"NaN or Inf direction for diffusion-weighted volume {vol}")
    bvecs[bad_values] = 0.0

    norms = np.linalg.norm(bvecs, axis=1)
    off = ~is_b0 & (np.abs(norms - 1.0) > UNIT_NORM_TOLERANCE)
    if np.any(off):
        vol = int(np.flatnonzero(off)[0])
        raise InputError(
            bvec_path,
            f"{int(off.sum())} direction(s) of diffusion-weighted volumes are not unit length "
            f"(volume {vol}: norm {norms[vol]:.3g}, tolerance {UNIT_NORM_TOLERANCE})",
        )
    bvecs[~is_b0] /= norms[~is_b0, None]

    return bvals, bvecs
