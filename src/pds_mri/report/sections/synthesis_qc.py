"""Per-subject synthesis QC: source | synthesis | real (when present) | |error| | uncertainty, three planes each.

One figure per synthesised subject and direction (brain.ortho_png): every row cut at the same MNI mm
coordinates, the source on its own model grid, the others on the target's; synthesis, real and source share
the [-1, 1] grey scale; |error| and the std share one magma scale on the [0, 1] protocol scale (std / 2, as
`pds evaluate` scores them), so where the model says it is unsure can be set against where it is wrong.

Files come from synthesized.tsv cells (synthesis, uncertainty, sidecar) and from the prepared directory's
cohort.tsv cells (the source map, the real target, the target brain mask), never from rebuilt names. The
prepared directory is the one given, else the synthesis dataset's DatasetLinks["prepared"]; without it the
source comes from the sidecar's absolute Source and no real map is shown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from pds_mri.errors import PdsError
from pds_mri.io.layout import COHORT_TSV, inside, key_of
from pds_mri.io.run_layout import SYNTH_TSV
from pds_mri.report.brain import Row, cut_coords, image, ortho_png
from pds_mri.report.format import sig
from pds_mri.report.html import esc, note
from pds_mri.report.html import image as figure
from pds_mri.report.prepared_qc import LABELS
from pds_mri.report.read import existing_dir, read_json_or_none

#: Subjects per direction a synthesis section draws (every one of an ordinary imputation run); the table lists all.
SYNTHESIS_QC_SUBJECTS = 40
MODALITIES_OF = {"fmri2dmri": ("fmri", "dmri"), "dmri2fmri": ("dmri", "fmri")}


def find_prepared(synth_dir: Path, given: Path | None = None) -> Path | None:
    """The prepared directory of a synthesis: `given`, else the dataset's DatasetLinks["prepared"]."""
    if given is not None and Path(given).is_dir():
        return Path(given)
    description = read_json_or_none(synth_dir / "dataset_description.json")
    links = description.get("DatasetLinks") if isinstance(description, dict) else None
    value = links.get("prepared") if isinstance(links, dict) else None
    if isinstance(value, str):
        return existing_dir(value.removeprefix("file://"), synth_dir)
    return None


def read_cohort_rows(prepared: Path | None) -> dict[str, Mapping[str, Any]]:
    """cohort.tsv rows by row id (`key_of`: sub-X or sub-X_ses-Y); {} when there is no readable cohort."""
    if prepared is None:
        return {}
    from pds_mri.training.data import read_cohort

    try:
        return {key_of(r): r for r in read_cohort(prepared)}
    except PdsError:
        return {}


def synthesis_qc_html(
    synth_dir: Path,
    rows: Sequence[Mapping[str, Any]],
    prepared: Path | None = None,
    limit: int = SYNTHESIS_QC_SUBJECTS,
) -> str:
    """One three-plane figure per row (up to `limit` per direction), grouped by direction; notes for the rest."""
    prepared = find_prepared(synth_dir, prepared)
    cohort = read_cohort_rows(prepared)
    parts = []
    if not cohort:
        parts.append(note("prepared directory not found or unreadable: sources from the sidecars, no real maps"))
    for direction in sorted({str(r.get("direction")) for r in rows}):
        chosen = [r for r in rows if str(r.get("direction")) == direction]
        for row in chosen[:limit]:
            parts.append(subject_figure(synth_dir, row, prepared, cohort.get(key_of(row))))
        if len(chosen) > limit:
            rest = " ".join(key_of(r) for r in chosen[limit:])
            parts.append(note(f"{direction}: {len(chosen) - limit} more subject(s) not drawn ({rest})"))
    return "\n".join(parts) or note("no syntheses to show")


def subject_figure(
    synth_dir: Path,
    row: Mapping[str, Any],
    prepared: Path | None,
    cohort_row: Mapping[str, Any] | None,
    scores: str = "",
) -> str:
    """The figure of one synthesis (or a note saying why it cannot be drawn); `scores` leads its caption."""
    pid, direction = key_of(row), str(row.get("direction"))
    try:
        rows, numbers, cut = qc_rows(synth_dir, row, prepared, cohort_row)
        png = ortho_png(rows, cut)
    except Exception as exc:  # a report shows what it can
        return note(f"{pid} {direction}: figure unavailable ({type(exc).__name__}: {exc})")
    diagnosis = (cohort_row or {}).get("diagnosis") or row.get("diagnosis") or "n/a"
    target = MODALITIES_OF.get(direction, ("", str(row.get("target"))))[1]
    if cohort_row is None:
        real = "real map unknown (no cohort row)"
    else:
        real = "real map present" if cohort_row.get(target) else "imputed: the subject has no real map"
    said = ", ".join([*([scores] if scores else []), *(f"{k} {sig(v, 3)}" for k, v in numbers.items())])
    caption = (
        f"{pid} ({diagnosis}) {direction}, {real}{': ' + said if said else ''}. "
        "Rows: source (its own grid) | synthesis | real | |error| | uncertainty, cut at the same MNI mm; "
        "synthesis, real and source on one [-1, 1] grey scale, |error| and std on one [0, 1] scale (inside the "
        "brain mask)."
    )
    return f'<div id="{esc(pid)}-{esc(direction)}">{figure(png, f"{pid} {direction}", caption)}</div>'


def _load(path: Path) -> nib.Nifti1Image:
    from pds_mri.io.nifti import load_nifti

    img = load_nifti(str(path))
    return nib.Nifti1Image(np.asarray(img.dataobj, dtype=np.float32), img.affine)


def _cell(root: Path, row: Mapping[str, Any], column: str, index: str) -> Path | None:
    value = row.get(column)
    return inside(root, str(value), root / index) if value else None


def qc_rows(
    synth_dir: Path, row: Mapping[str, Any], prepared: Path | None, cohort_row: Mapping[str, Any] | None
) -> tuple[list[Row], dict[str, float], tuple[float, float, float]]:
    """The figure's rows, its numbers (MAE and mean std inside the mask, [0, 1] scale) and its cut (mm)."""
    direction = str(row.get("direction"))
    source_m, target_m = MODALITIES_OF.get(direction, (str(row.get("source")), str(row.get("target"))))
    source_m, target_m = str(row.get("source") or source_m), str(row.get("target") or target_m)
    synth_path = _cell(synth_dir, row, "synthesis", SYNTH_TSV)
    if synth_path is None:
        raise PdsError("no synthesis file in its synthesized.tsv row")
    synthesis = _load(synth_path)
    values = np.asarray(synthesis.dataobj)

    source, real, mask = None, None, None
    if cohort_row is not None and prepared is not None:
        source_path = _cell(prepared, cohort_row, source_m, COHORT_TSV)
        real_path = _cell(prepared, cohort_row, target_m, COHORT_TSV)
        mask_path = _cell(prepared, cohort_row, f"{target_m}_mask", COHORT_TSV)
        source = _load(source_path) if source_path is not None and source_path.is_file() else None
        real = _load(real_path) if real_path is not None and real_path.is_file() else None
        mask = _load(mask_path) if mask_path is not None and mask_path.is_file() else None
    if source is None:
        sidecar = read_json_or_none(synth_dir / str(row["sidecar"])) if row.get("sidecar") else None
        named = sidecar.get("Source") if isinstance(sidecar, dict) else None
        if isinstance(named, str) and Path(named).is_file():
            source = _load(Path(named))
    inside_mask = (
        np.asarray(mask.dataobj) > 0.5
        if mask is not None and mask.shape[:3] == values.shape[:3]
        else values > -0.99  # the synthesis is -1 outside the brain
    )
    std_path = _cell(synth_dir, row, "uncertainty", SYNTH_TSV)
    std = np.asarray(_load(std_path).dataobj) / 2.0 if std_path is not None and std_path.is_file() else None

    numbers: dict[str, float] = {}
    error = None
    if real is not None and real.shape[:3] == values.shape[:3]:
        error = np.abs(np.clip(values, -1, 1) - np.clip(np.asarray(real.dataobj), -1, 1)) / 2.0 * inside_mask
        if inside_mask.any():
            numbers["MAE"] = float(error[inside_mask].mean())
    if std is not None and std.shape[:3] == values.shape[:3] and inside_mask.any():
        std = std * inside_mask
        numbers["mean std"] = float(std[inside_mask].mean())
    peaks = [float(np.max(v)) for v in (error, std) if v is not None and v.size]
    top = max([*peaks, 1e-3])
    affine = synthesis.affine
    source_label, target_label = LABELS.get(source_m, source_m), LABELS.get(target_m, target_m)
    imputed = "no real map (imputed: the subject lacks it)" if cohort_row is not None else "no real map found"
    rows = [
        Row(f"source: {source_label}", source, note="not found"),
        Row(f"synthesis: {target_label}", synthesis),
        Row(f"real {target_label}", real, note=imputed),
        Row("|error|", image(error, affine) if error is not None else None, "magma", 0.0, top, note="no real map"),
        Row(
            "uncertainty (std / 2)",
            image(std, affine) if std is not None else None,
            "magma",
            0.0,
            top,
            note="none (synthesise with --samples N > 1)",
        ),
    ]
    centre = image(inside_mask.astype(np.float32), affine)
    return rows, numbers, cut_coords(centre)
