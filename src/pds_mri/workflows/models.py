"""The model registry: every model `pds train` and `pds benchmark` know, and how they relate.

Each model family declares its named models in its one file (`ModelFamily.specs`, `pds_mri.families`): ``pds``
models are PDS code with config overrides; ``unet`` and ``pix2pix3d`` are the one-stage baselines. This module
collects them; the CLI help, the benchmark's default set, its shared-training tables and the errors for unknown
names are all derived from here, so a new model (or a new family) is one family file.
"""

from __future__ import annotations

from pds_mri.errors import PdsError
from pds_mri.families.spec import ModelSpec, Resynthesis

__all__ = [
    "ModelSpec",
    "Resynthesis",
    "benchmark_defaults",
    "model_help",
    "model_spec",
    "model_specs",
    "resolve_models",
    "trainable_models",
]


def model_specs() -> dict[str, ModelSpec]:
    """Every registered model by name: first each family's own model (families in registration order, the
    default first), then the other models of each family, in the order its file lists them.

    Read anew on each call (the families import torch, so only when asked), so a family registered later (a
    test's) is listed too."""
    from pds_mri.families import FAMILIES

    families = [fam for _, fam in FAMILIES.items()]
    ordered = [fam.specs[0] for fam in families] + [s for fam in families for s in fam.specs[1:]]
    specs: dict[str, ModelSpec] = {}
    for spec in ordered:
        if spec.name in specs:
            raise ValueError(f"model {spec.name!r} is declared twice")
        specs[spec.name] = spec
    return specs


def model_spec(name: str) -> ModelSpec:
    specs = model_specs()
    if name not in specs:
        raise PdsError(f"--model {name}: choose one of {', '.join(specs)}")
    return specs[name]


def trainable_models() -> tuple[str, ...]:
    return tuple(n for n, s in model_specs().items() if s.trainable)


def benchmark_defaults() -> tuple[str, ...]:
    return tuple(n for n, s in model_specs().items() if s.benchmark_default)


def model_help() -> str:
    """One line for `--model`: every trainable model, grouped."""
    groups: dict[str, list[str]] = {"baselines": [], "PDS variants": []}
    for name, spec in model_specs().items():
        if spec.trainable and name != "pds":
            groups["baselines" if spec.family != "pds" or name == "ddpm" else "PDS variants"].append(name)
    return "pds; " + "; ".join(f"{k}: {', '.join(v)}" for k, v in groups.items() if v) + " (docs: README, Models)."


def resolve_models(models: tuple[str, ...]) -> tuple[str, ...]:
    """The `--models` of the benchmark (or diagnose): distinct registered names, the defaults when none."""
    chosen = tuple(dict.fromkeys(models or benchmark_defaults()))
    specs = model_specs()
    unknown = [m for m in chosen if m not in specs]
    if unknown:
        raise PdsError(f"--models {', '.join(unknown)}: choose from {', '.join(specs)}")
    return chosen
