"""The synthesis page (a `pds synthesize` output on its own) and the section a run page shows for a synthesis
that no evaluation scored: its rows and, per direction, slices of source | synthesis | uncertainty."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pds_mri.errors import PdsError
from pds_mri.io.layout import key_of
from pds_mri.io.synthesized import read_synthesized
from pds_mri.report.html import Page, image, note, table
from pds_mri.report.mosaic import MOSAIC_SUBJECTS
from pds_mri.report.read import read_json

#: the synthesis index's columns shown per row (session_id only for a dataset with sessions)
SYNTHESIS_COLUMNS = (
    "participant_id",
    "session_id",
    "direction",
    "source",
    "target",
    "mode",
    "synthesis",
    "uncertainty",
)


def synthesis_page(path: Path) -> Page:
    page = Page(f"pds-mri report — synthesis {path.resolve().name}", f"synthesis directory {path.resolve()}")
    add_synthesis(page, path, "Synthesis")
    return page


def add_synthesis(page: Page, synth_dir: Path, heading: str) -> None:
    """Rows of a synthesized.tsv and, per direction, slices of source | synthesis | uncertainty."""
    try:
        rows = read_synthesized(synth_dir)
    except PdsError as exc:
        page.add(heading, note(str(exc)))
        return
    parts = [
        note("Not scored: no `pds evaluate` output for these syntheses in this directory."),
        note(
            "Mode: mean = the posterior-mean estimate (PDS default: one denoiser evaluation, refined); "
            "sample = stochastic posterior samples; one pass = a regression baseline."
        ),
        table(rows, [c for c in SYNTHESIS_COLUMNS if c != "session_id" or any(c in r for r in rows)]),
    ]
    for direction in sorted({r["direction"] for r in rows}):
        for row in [r for r in rows if r["direction"] == direction][:MOSAIC_SUBJECTS]:
            try:
                png = _synthesis_mosaic(synth_dir, row)
            except Exception as exc:  # a report shows what it can
                parts.append(note(f"{key_of(row)} {direction}: slices unavailable ({exc})"))
                continue
            parts.append(image(png, f"{key_of(row)} {direction}", f"{key_of(row)} {direction}"))
    page.add(heading, "\n".join(parts))


def _synthesis_mosaic(synth_dir: Path, row: dict[str, str]) -> bytes:
    """Source (resampled onto the synthesis grid, from the sidecar's Source) | synthesis | uncertainty."""
    import numpy as np

    from pds_mri.io.nifti import load_nifti
    from pds_mri.report.mosaic import mosaic_png
    from pds_mri.training.data import resample_to

    synth_img = load_nifti(str(synth_dir / row["synthesis"]))
    synthesis = np.asarray(synth_img.dataobj, dtype=np.float32)
    source = None
    sidecar = read_json(synth_dir / row["sidecar"]) if row.get("sidecar") else None
    if isinstance(sidecar, dict) and sidecar.get("Source") and Path(sidecar["Source"]).is_file():
        source = resample_to(load_nifti(sidecar["Source"]), synth_img)
    panels: list[tuple[str, Any]] = [("source", source), ("synthesis", synthesis)]
    if row.get("uncertainty"):
        panels.append(("uncertainty (std)", np.asarray(load_nifti(str(synth_dir / row["uncertainty"])).dataobj)))
    return mosaic_png(panels, mask=synthesis > -0.99)
