"""What a named model is: its family, its `model:` overrides and its benchmark relations (torch-free).

A family file declares its models (`ModelFamily.specs`); the model registry (`pds_mri.workflows.models`)
collects them, so the CLI, the benchmark and their errors know a model once its family file is registered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Resynthesis:
    """How a benchmark-only model synthesises: it reuses another model's trained run of the fold."""

    trained: str
    steps: int | None = None
    samples: int = 1
    mode: str | None = None  # None: the run's configured synthesis mode
    guidance: float | None = None  # None: the run's configured guidance scale
    disease_state: bool = True  # False: ignore the run's source-only disease estimate

    def describe(self) -> str:
        steps = "its configured steps" if self.steps is None else f"{self.steps} steps"
        mean = "" if self.samples == 1 else f", voxel-wise mean of {self.samples} samples"
        how = "in its configured mode" if self.mode is None else f"in {self.mode} mode"
        extra = "" if self.guidance is None else f", guidance {self.guidance:g}"
        extra += "" if self.disease_state else ", without its disease-state estimate"
        return f"the {self.trained} run of the fold, synthesised {how} with {steps}{mean}{extra}"


@dataclass(frozen=True)
class ModelSpec:
    """A model: its family (which code trains and samples it), its `model:` config overrides, and how it relates
    to other models in the benchmark.

    ``resynthesis``: benchmark only — no training of its own; it synthesises another model's run differently.
    ``stage1_from``: trains stage 2 only, on the stage-1 weights of the named model's run of the fold.
    ``benchmark_default``: part of `pds benchmark`'s default model set.
    """

    name: str
    family: str  # a family module of `pds_mri.families` (its code trains and samples the model)
    description: str
    overrides: dict[str, Any] = field(default_factory=dict)
    resynthesis: Resynthesis | None = None
    stage1_from: str | None = None
    benchmark_default: bool = False

    @property
    def trainable(self) -> bool:
        return self.resynthesis is None
