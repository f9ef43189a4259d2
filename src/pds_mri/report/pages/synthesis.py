"""The synthesis page (a `pds synthesize` output on its own) and the section a run page shows for a synthesis
that no evaluation scored (e.g. the subjects it imputed): its rows and, per subject, three-plane figures of
source | synthesis | real (when the subject has it) | |error| | uncertainty."""

from __future__ import annotations

from pathlib import Path

from pds_mri.errors import PdsError
from pds_mri.io.synthesized import read_synthesized
from pds_mri.report.html import Page, note, table
from pds_mri.report.sections.synthesis_qc import synthesis_qc_html

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


def add_synthesis(page: Page, synth_dir: Path, heading: str, prepared: Path | None = None) -> None:
    """Rows of a synthesized.tsv and every subject's QC figure (the prepared directory found from the
    synthesis dataset's links unless given)."""
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
        "<h3>Per subject</h3>",
        synthesis_qc_html(synth_dir, rows, prepared),
    ]
    page.add(heading, "\n".join(parts))
