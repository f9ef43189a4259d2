"""Model families, registered by name in :data:`FAMILIES` (`pds_mri.registry.Registry`).

A new family is one file here that adds its `ModelFamily` (``FAMILIES.add(name, family)``) with its named
models (``specs``); the package imports every module in it, so the registry of named models
(`pds_mri.workflows.models`) collects them and the contract test (`tests/families/`) runs on it. Nothing else
lists the families or the models.
"""

from __future__ import annotations

from pds_mri.families.base import FAMILIES, ModelFamily
from pds_mri.registry import import_members

import_members(__name__, __path__)


def family_names() -> tuple[str, ...]:
    return FAMILIES.names()


def family(name: str) -> ModelFamily:
    """The family called ``name``; an unknown name is an error listing the known ones."""
    return FAMILIES.get(name)
