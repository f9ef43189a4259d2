"""Model families, found by name: ``pds_mri.families.<name>`` defines ``FAMILY``, a `ModelFamily`.

A new family is one file here (plus its networks in `pds_mri.models`); the registry of named models
(`pds_mri.workflows.models`) refers to it by that name. Nothing else lists the families.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from pds_mri.errors import PdsError
from pds_mri.families.base import ModelFamily


@cache
def family_names() -> tuple[str, ...]:
    """Every module of this package that defines a ``FAMILY``."""
    names = []
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        if isinstance(getattr(module, "FAMILY", None), ModelFamily):
            names.append(info.name)
    return tuple(sorted(names))


def family(name: str) -> ModelFamily:
    """The family called ``name``; an unknown name is an error listing the known ones."""
    if name not in family_names():
        raise PdsError(f"model family '{name}': choose one of {', '.join(family_names())}")
    found: ModelFamily = importlib.import_module(f"{__name__}.{name}").FAMILY
    if found.name != name:
        raise PdsError(f"{__name__}.{name} defines the family '{found.name}'; a family's file carries its name")
    return found
