"""The prepared atlas table (`atlas-Dosenbach160_dseg.tsv`, `atlas/pattern.tsv` in older directories): which
functional network each of the 160 ROIs belongs to."""

from __future__ import annotations

from pathlib import Path

from pds_mri.errors import InputError
from pds_mri.io import layout
from pds_mri.io.layout import NETWORKS
from pds_mri.io.tables import read_index


def roi_networks(prepared_dir: Path) -> list[int]:
    """Network index of each ROI label 1..160 (entry r-1), from the prepared atlas table."""
    path = layout.find_pattern_table(prepared_dir)
    hint = "written by `pds prepare`; run it again"
    rows = read_index(path, ("label", "network"), hint)
    labels = [str(r["label"] or "").strip() for r in rows]
    if labels != [str(i) for i in range(1, len(labels) + 1)] or len(labels) != 160:
        raise InputError(path, f"expected the ROI labels 1..160 in order, one per line; {hint}")
    unknown = {r["network"] for r in rows} - set(NETWORKS)
    if unknown:
        raise InputError(path, f"unexpected networks {sorted(str(u) for u in unknown)}; {hint}")
    return [NETWORKS.index(str(r["network"])) for r in rows]
