"""The BOLD run's repetition time (TR), which ALFF/fALFF need to place the 0.01-0.08 Hz band.

Decision (documented for users):
- A JSON sidecar, when given, is authoritative (BIDS): it must exist, parse, and hold a numeric
  RepetitionTime in seconds. A sidecar without it is an error; we do not quietly fall back to the header,
  because converters often leave pixdim[4] at a default.
- With no sidecar at all (non-BIDS data), the NIfTI header is used only if pixdim[4] > 0 and the
  xyzt_units declare a time unit (s, ms or us; converted to seconds). Otherwise "missing RepetitionTime".
- Any TR above MAX_TR_S seconds is refused as implausible: it is nearly always milliseconds written
  where seconds belong.
BIDS inheritance (sidecars higher in the tree) is resolved by the caller, which passes the path.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import nibabel as nib

from pds_mri.errors import InputError
from pds_mri.io.nifti import load_nifti

PathLike = str | os.PathLike[str]

MAX_TR_S = 100.0
_TIME_UNITS = {"sec": 1.0, "msec": 1e-3, "usec": 1e-6}


def check_repetition_time(value: object, path: PathLike, source: str) -> float:
    """A TR value from any source (sidecar, header, manifest) as positive, plausible seconds."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(path, f"{source} RepetitionTime is not a number: {value!r:.40}")
    try:
        tr = float(value)
    except OverflowError:  # a JSON integer with hundreds of digits
        raise InputError(path, f"{source} RepetitionTime {str(value)[:20]}... is implausibly large") from None
    if not math.isfinite(tr) or tr <= 0:
        raise InputError(path, f"{source} RepetitionTime must be a positive number of seconds, got {tr:g}")
    if tr > MAX_TR_S:
        raise InputError(
            path, f"{source} RepetitionTime {tr:g} s is implausible (> {MAX_TR_S:g} s): milliseconds, not seconds?"
        )
    return tr


def _tr_from_sidecar(json_path: Path) -> float:
    if not json_path.is_file():
        raise InputError(json_path, "sidecar JSON file not found")
    try:  # utf-8-sig: Windows editors prepend a byte-order mark
        meta = json.loads(json_path.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        where = f" (line {exc.lineno})" if isinstance(exc, json.JSONDecodeError) else ""
        raise InputError(json_path, f"invalid JSON{where}") from None
    except OSError as exc:
        raise InputError(json_path, f"sidecar JSON unreadable ({exc.strerror or exc.__class__.__name__})") from None
    if not isinstance(meta, dict):
        raise InputError(json_path, "invalid sidecar: the JSON must be an object")
    if "RepetitionTime" not in meta:
        raise InputError(json_path, "missing RepetitionTime in the JSON sidecar")
    return check_repetition_time(meta["RepetitionTime"], json_path, "sidecar")


def _tr_from_header(bold_path: Path, header: nib.Nifti1Header | None) -> float:
    if header is None:
        try:
            header = load_nifti(bold_path).header
        except Exception:  # the NIfTI reader reports unreadable files with a precise message
            raise InputError(bold_path, "missing RepetitionTime: no JSON sidecar and unreadable header") from None
    _, time_unit = header.get_xyzt_units()
    pixdim4 = float(header["pixdim"][4])
    if time_unit not in _TIME_UNITS or not math.isfinite(pixdim4) or pixdim4 <= 0:
        raise InputError(
            bold_path,
            "missing RepetitionTime: no JSON sidecar, and the header has no usable TR "
            f"(pixdim[4]={pixdim4:g}, time unit {time_unit})",
        )
    return check_repetition_time(pixdim4 * _TIME_UNITS[time_unit], bold_path, "header")


def read_repetition_time(
    json_path: PathLike | None,
    bold_img_path: PathLike,
    header: nib.Nifti1Header | None = None,
) -> float:
    """TR in seconds from the sidecar, or from the BOLD header when there is no sidecar (see module doc).

    Pass `header` when the BOLD image is already loaded, to avoid opening it again.
    """
    if json_path is not None:
        return _tr_from_sidecar(Path(json_path))
    return _tr_from_header(Path(bold_img_path), header)
