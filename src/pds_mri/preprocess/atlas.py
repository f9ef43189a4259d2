"""The files every subject of a prepared directory shares: the pattern atlas on each model grid and its table."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pds_mri.config import Config
from pds_mri.domain import MODALITIES
from pds_mri.io import layout
from pds_mri.io.atomic import save_nifti, write_tsv
from pds_mri.preprocess._image import grid_image


def write_atlas(out_dir: Path, config: Config) -> None:
    """The Dosenbach-160 pattern labels on each model grid, shared by every subject."""
    from pds_mri.preprocess.priors import pattern_labels, pattern_table

    for m in MODALITIES:
        grid = getattr(config.grids, m)
        save_nifti(grid_image(pattern_labels(grid).astype(np.int16), grid.affine), out_dir / layout.pattern_atlas(m))
    # a BIDS `_dseg.tsv` look-up table: index and name first (BIDS), then what the pattern encoder reads
    table = [{"index": r["label"], "name": f"{r['network']}-{r['label']}", **r} for r in pattern_table()]
    write_tsv(out_dir / layout.PATTERN_TABLE, table, list(table[0]))
