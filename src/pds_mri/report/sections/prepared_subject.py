"""The sections of one prepared subject's QC page: summary and flags, each model-grid map on the MNI152
template (brain-mask and field-of-view contours), the GM/WM/CSF maps on each grid, and the registration check
(the native maps placed in MNI152 by the recorded transform, with the template's brain-mask outline).

Paths come from the cohort.tsv row only. A file that is listed but missing or unreadable becomes a note in its
section; a figure that cannot be drawn becomes a note too, so one damaged subject never stops the report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pds_mri.domain import MODALITIES
from pds_mri.io.layout import TISSUES, session_of
from pds_mri.preprocess.registration import MIN_DICE, MIN_QC
from pds_mri.preprocess.transform import ToMNI
from pds_mri.report.brain import Contour, Row, cut_coords, field_of_view, image, ortho_png, overlay_values, voxel_mm
from pds_mri.report.format import sig
from pds_mri.report.html import definitions, esc, note
from pds_mri.report.html import image as figure
from pds_mri.report.prepared_qc import LABELS, SubjectQC, cell_path, load_cell, modalities

MASK_COLOUR, FOV_COLOUR, MNI_COLOUR = "lime", "orange", "red"


def summary_section(qc: SubjectQC) -> str:
    row = qc.row
    items: list[tuple[str, Any]] = [
        ("participant", row.get("participant_id")),
        ("session", session_of(row) or "n/a"),
        ("diagnosis", row.get("diagnosis") or "unknown"),
        ("age", row.get("age") or "n/a"),
        ("sex", row.get("sex") or "n/a"),
        ("modalities", modalities(row)),
        ("registration", row.get("registration") or "none"),
        ("registration QC (r with the template)", sig(qc.registration_qc, 3)),
        ("registration Dice (registered brain mask / MNI152 brain mask)", sig(qc.registration_dice, 3)),
        ("tissue source", row.get("tissue_source") or "n/a"),
    ]
    items += [(f"{LABELS[m]} brain mask / MNI152 brain Dice", sig(qc.dice.get(m), 3)) for m in MODALITIES]
    parts = [definitions(items), flags_html(qc.flags)]
    parts += [note(f"{column}: {problem}") for column, problem in qc.problems.items()]
    return "\n".join(parts)


def flags_html(flags: list[str]) -> str:
    if not flags:
        return '<p class="ok">no flags</p>'
    return "".join(f'<span class="flag">{esc(f)}</span>' for f in flags)


def maps_section(prepared: Path, qc: SubjectQC) -> str:
    """Each model-grid map over the template, with its brain mask and the grid's field of view outlined."""
    rows, cuts = [], None
    kinds = []
    for m in MODALITIES:
        label = LABELS[m]
        if not qc.row.get(m):
            rows.append(Row(f"{label} map", None, note="absent (synthesise it with `pds synthesize`)"))
            continue
        img = load_cell(prepared, qc.row, m, qc)
        mask = load_cell(prepared, qc.row, f"{m}_mask", qc)
        if img is None:
            rows.append(Row(f"{label} map", None, note=qc.problems.get(m, "unreadable")))
            continue
        inside = np.asarray(mask.dataobj) > 0.5 if mask is not None else None
        values = image(overlay_values(np.asarray(img.dataobj), inside), img.affine)
        contours = [Contour(field_of_view(img), FOV_COLOUR, "dashed")]
        if mask is not None:
            contours.insert(0, Contour(mask, MASK_COLOUR))
            cuts = cuts or cut_coords(mask)
        mm = " × ".join(f"{v:g}" for v in voxel_mm(img))
        kinds.append(f"{label} {mm} mm")
        rows.append(
            Row(
                f"{label} map ({mm} mm)",
                values,
                cmap="viridis",
                on_template=True,
                threshold=0,
                contours=tuple(contours),
            )
        )
    caption = (
        "Each model-grid map (normalised to [-1, 1]; outside the brain mask transparent) over nilearn's MNI152 "
        "template; green: the model-grid brain mask; orange dashed: the model grid's field of view. "
        "Cuts in MNI mm (x sagittal, y coronal, z axial), voxels drawn at their physical size."
    )
    return _figure(rows, cuts, f"{qc.label}: maps on MNI152", caption)


def tissue_section(prepared: Path, qc: SubjectQC) -> str:
    """GM, WM and CSF probabilities on each model grid (the 4D probseg file, volumes in TISSUES order)."""
    out = []
    for m in MODALITIES:
        tissue = load_cell(prepared, qc.row, f"{m}_tissue", qc)
        if tissue is None:
            out.append(note(f"{LABELS[m]} grid tissue maps: {qc.problems.get(f'{m}_tissue', 'not listed')}"))
            continue
        data = np.asarray(tissue.dataobj, dtype=np.float32)
        if data.ndim != 4 or data.shape[3] != len(TISSUES):
            out.append(note(f"{LABELS[m]} grid tissue maps: expected {len(TISSUES)} volumes, got shape {data.shape}"))
            continue
        mask = load_cell(prepared, qc.row, f"{m}_mask", qc)
        contours = (Contour(mask, MASK_COLOUR),) if mask is not None else ()
        rows = [
            Row(f"{name} probability, {LABELS[m]} grid", image(data[..., k], tissue.affine), cmap="hot", vmin=0.0,
                vmax=1.0, on_template=True, threshold=0.02, contours=contours)
            for k, name in enumerate(TISSUES)
        ]  # fmt: skip
        caption = (
            f"Tissue probabilities on the {LABELS[m]} model grid ({qc.row.get('tissue_source') or 'source n/a'}) "
            "over the MNI152 template; below 0.02 transparent; green: the brain mask."
        )
        out.append(_figure(rows, cut_coords(mask, tissue), f"{qc.label}: tissue, {LABELS[m]} grid", caption))
    return "\n".join(out)


def registration_section(prepared: Path, qc: SubjectQC) -> str:
    """The native maps placed in MNI152 (by the recorded transform, or as they are) under the MNI brain outline."""
    from pds_mri.report.brain import template_mask

    method = qc.row.get("registration") or "none"
    rows = []
    for m in MODALITIES:
        label = LABELS[m]
        native = load_cell(prepared, qc.row, f"{m}_native", qc)
        if native is None:
            reason = qc.problems.get(f"{m}_native", "no native map")
            rows.append(Row(f"{label} native map", None, note=reason))
            continue
        transform, how = _transform(prepared, qc, m)
        if transform is None and how:
            rows.append(Row(f"{label} native map", None, note=how))
            continue
        placed = _placed(native, transform)
        data = np.asarray(placed.dataobj, dtype=np.float32)
        data = data.mean(axis=3) if data.ndim == 4 else data
        low, high = _robust_range(data)
        placement = "through the recorded transform" if transform is not None else "as is"
        title = f"{label} native map placed in MNI152 {placement}"
        rows.append(
            Row(title, image(data, placed.affine), vmin=low, vmax=high,
                contours=(Contour(template_mask(), MNI_COLOUR),))
        )  # fmt: skip
    if method == "none":
        intro = (
            "No registration (`--registration none`, or inputs declared in MNI152): the native maps are taken to lie "
            "in MNI152 space as they are. The red outline (nilearn's MNI152 brain mask) should hug each brain."
        )
    else:
        intro = (
            f"Registration: {method}, QC r {sig(qc.registration_qc, 3)} (flagged below {sig(MIN_QC)} for a T1w "
            "reference), brain-mask "
            f"Dice with MNI152 {sig(qc.registration_dice, 3)} (flagged below {sig(MIN_DICE)}). Each native map "
            "placed in MNI152 by the recorded transform (the T1w's when the registration went through it; "
            "after SyN resampled through affine and warp); the red outline (nilearn's MNI152 brain mask) should "
            "hug each brain."
        )
    cut = cut_coords(template_mask())
    return "<p>" + esc(intro) + "</p>" + _figure(rows, cut, f"{qc.label}: registration check", intro)


def _transform(prepared: Path, qc: SubjectQC, m: str) -> tuple[ToMNI | None, str]:
    """(native → MNI transform, '') from the row's xfm JSON; (None, '') when none is listed; (None, why) if unusable."""
    from pds_mri.io.transform_files import read_transform

    column = f"{m}_xfm"
    try:
        path = cell_path(prepared, qc.row, column)
        if path is None:
            return None, ""
        return read_transform(prepared, str(path.relative_to(prepared))), ""
    except Exception as exc:  # a damaged transform is a note on the page
        why = f"{qc.row.get(column)}: missing, unreadable or not a 4x4 Matrix ({exc})"
        qc.problems.setdefault(column, why)
        return None, why


def _placed(native: Any, transform: ToMNI | None) -> Any:
    """The native map in MNI: as it is, its affine moved (affine registration), or resampled through the
    affine and the warp (SyN) onto an MNI grid at its own voxel size."""
    from pds_mri.preprocess.registration import mni_box
    from pds_mri.preprocess.transform import in_mni, to_mni_space

    if transform is None:
        return native
    if not transform.nonlinear:
        return in_mni(native, transform.matrix)
    affine, shape = mni_box(max(1.0, float(np.mean(native.header.get_zooms()[:3]))))
    return to_mni_space(native, transform, affine, shape, "linear")


def _robust_range(data: np.ndarray) -> tuple[float, float]:
    values = data[np.isfinite(data) & (data != 0)]
    if values.size == 0:
        return 0.0, 1.0
    low, high = (float(v) for v in np.percentile(values, [2, 98]))
    return (low, high) if high > low else (low, low + 1.0)


def _figure(rows: list[Row], cut: tuple[float, float, float] | None, alt: str, caption: str) -> str:
    try:
        png = ortho_png(rows, cut or (0.0, -18.0, 8.0))
    except Exception as exc:  # a report shows what it can
        return note(f"{alt}: figure unavailable ({type(exc).__name__}: {exc})")
    return figure(png, alt, caption)


def subject_sections(prepared: Path, qc: SubjectQC) -> list[tuple[str, str]]:
    """(heading, HTML) of every section of a subject's page, in order; the summary last sees every problem."""
    body = [
        ("Maps on the MNI152 template", maps_section(prepared, qc)),
        ("Tissue maps", tissue_section(prepared, qc)),
        ("Registration check", registration_section(prepared, qc)),
    ]
    return [("Summary", summary_section(qc)), *body]
