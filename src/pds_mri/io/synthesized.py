"""The index of a synthesis directory, SYNTH_DIR/synthesized.tsv (one row per subject and direction, as
`pds synthesize` writes it): read by `pds evaluate` and by the report, so it lives below both."""

from __future__ import annotations

from pathlib import Path

from pds_mri.io.run_layout import SYNTH_TSV
from pds_mri.io.tables import read_index

__all__ = ["NEEDED_SYNTH_COLUMNS", "SYNTH_TSV", "read_synthesized"]
NEEDED_SYNTH_COLUMNS = ("participant_id", "direction", "synthesis")


def read_synthesized(synth_dir: Path) -> list[dict[str, str]]:
    """Rows of SYNTH_DIR/synthesized.tsv, checked for the needed columns; cells stripped, empty ones ''."""
    path = Path(synth_dir) / SYNTH_TSV
    rows = read_index(path, NEEDED_SYNTH_COLUMNS, "SYNTH_DIR must be the output directory of `pds synthesize`")
    return [{k: (v or "").strip() for k, v in r.items()} for r in rows]
