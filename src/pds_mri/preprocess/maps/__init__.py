"""The fMRI and dMRI maps, one file per map family, registered by name per modality (docs/maps.md).

A new map is one file here: a :class:`BoldMap` (or :class:`DwiMap`) subclass with its `check` (what it needs
from the inputs) and its `compute`, under ``@FMRI_MAPS.register("name", help=...)``. The package imports every
module in it, so `--fmri-map`, the config, validation, `pds prepare` and the contract test
(``tests/preprocess/maps/``) know it at once.
"""

from __future__ import annotations

from pds_mri.preprocess.maps.base import (
    DMRI_MAPS,
    FMRI_MAPS,
    MAPS,
    BoldMap,
    BoldRun,
    DwiMap,
    GradientTable,
)
from pds_mri.registry import import_members

import_members(__name__, __path__)

__all__ = ["DMRI_MAPS", "FMRI_MAPS", "MAPS", "BoldMap", "BoldRun", "DwiMap", "GradientTable"]
