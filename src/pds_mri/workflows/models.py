"""The model registry: every model `pds train` and `pds benchmark` know, and how they relate.

One entry per model: its family (the code that trains and samples it, one file in `pds_mri.families`:
``pds`` models are PDS code with config overrides; ``unet`` and ``pix2pix3d`` are the one-stage baselines), its
description, its `model:` overrides and its benchmark relations. The CLI help, the benchmark's default set, its
shared-training tables and the errors for unknown names are all derived from here, so a new PDS variant is one
entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pds_mri.errors import PdsError

_DDPM = {
    "use_pattern": False,
    "use_diagnosis": False,
    "use_tissue": False,
    "use_micro": False,
    "diffusion": {
        "schedule": "linear",
        "prediction_type": "eps",
        "sampler": "ddim",
        "steps": 50,
        "eta": 0.0,
        "spacing": "leading",
        "mode": "sample",
        "train_timesteps": "uniform",
        "terminal_weight": 0.0,
    },
}


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


MODEL_SPECS: dict[str, ModelSpec] = {
    s.name: s
    for s in (
        ModelSpec(
            "pds", "pds", "PDS (pattern-aware diffusion + tissue and microstructure refinement)", benchmark_default=True
        ),
        ModelSpec(
            "unet",
            "unet",
            "3D U-Net regression, masked L1 or L2 (PDS denoiser architecture, one pass)",
            benchmark_default=True,
        ),
        ModelSpec(
            "pix2pix3d",
            "pix2pix3d",
            "pix2pix-3D: the unet generator + 3D PatchGAN (L1 x100 + LSGAN)",
            benchmark_default=True,
        ),
        ModelSpec(
            "ddpm",
            "pds",
            "plain conditional DDPM: concat conditioning, eps, linear schedule, DDIM 50",
            _DDPM,
            benchmark_default=True,
        ),
        ModelSpec(
            "pds-no-pattern",
            "pds",
            "PDS without the pattern embedding and ROI loss",
            {"use_pattern": False},
            benchmark_default=True,
        ),
        ModelSpec(
            "pds-no-tissue",
            "pds",
            "PDS without tissue refinement",
            {"use_tissue": False},
            stage1_from="pds",
            benchmark_default=True,
        ),
        ModelSpec(
            "pds-no-micro",
            "pds",
            "PDS without microstructure refinement",
            {"use_micro": False},
            stage1_from="pds",
            benchmark_default=True,
        ),
        ModelSpec(
            "pds-50steps",
            "pds",
            "PDS, one 50-step sample (the pds run; benchmark only)",
            resynthesis=Resynthesis("pds", steps=50, mode="sample"),
            benchmark_default=True,
        ),
        ModelSpec(
            "pds-mean4",
            "pds",
            "PDS, voxel-wise mean of 4 samples (the pds run; benchmark only)",
            resynthesis=Resynthesis("pds", samples=4, mode="sample"),
        ),
        ModelSpec(
            "pds-sample",
            "pds",
            "PDS, one posterior sample of its 8 steps (the pds run; benchmark only)",
            resynthesis=Resynthesis("pds", mode="sample"),
        ),
        ModelSpec(
            "pds-disease",
            "pds",
            "PDS + disease-informed priors of the training fold: source-only disease-state estimate as a soft "
            "diagnosis embedding, and a disease-map-weighted stage-1 loss term",
            {"disease_state": True, "disease_map_weight": 1.0},
        ),
        ModelSpec(
            "pds-state",
            "pds",
            "PDS + the source-only disease-state estimate of the training fold as a soft diagnosis embedding (no "
            "disease-map loss)",
            {"disease_state": True},
        ),
        ModelSpec(
            "pds-state-g2",
            "pds",
            "the pds-state run synthesised with guidance 2 (benchmark only)",
            resynthesis=Resynthesis("pds-state", guidance=2.0),
        ),
        ModelSpec(
            "pds-disease-map",
            "pds",
            "PDS + the disease-map-weighted stage-1 loss term only",
            {"disease_map_weight": 1.0},
        ),
        ModelSpec(
            "pds-disease-no-state",
            "pds",
            "the pds-disease run synthesised without its disease-state estimate (benchmark only)",
            resynthesis=Resynthesis("pds-disease", disease_state=False),
        ),
        ModelSpec(
            "pds-disease-g2",
            "pds",
            "the pds-disease run synthesised with guidance 2 (benchmark only)",
            resynthesis=Resynthesis("pds-disease", guidance=2.0),
        ),
    )
}


def model_spec(name: str) -> ModelSpec:
    if name not in MODEL_SPECS:
        raise PdsError(f"--model {name}: choose one of {', '.join(MODEL_SPECS)}")
    return MODEL_SPECS[name]


def trainable_models() -> tuple[str, ...]:
    return tuple(n for n, s in MODEL_SPECS.items() if s.trainable)


def benchmark_defaults() -> tuple[str, ...]:
    return tuple(n for n, s in MODEL_SPECS.items() if s.benchmark_default)


def model_help() -> str:
    """One line for `--model`: every trainable model, grouped."""
    groups: dict[str, list[str]] = {"baselines": [], "PDS variants": []}
    for name, spec in MODEL_SPECS.items():
        if spec.trainable and name != "pds":
            groups["baselines" if spec.family != "pds" or name == "ddpm" else "PDS variants"].append(name)
    return "pds; " + "; ".join(f"{k}: {', '.join(v)}" for k, v in groups.items() if v) + " (docs: README, Models)."


def resolve_models(models: tuple[str, ...]) -> tuple[str, ...]:
    """The `--models` of the benchmark (or diagnose): distinct registered names, the defaults when none."""
    chosen = tuple(dict.fromkeys(models or benchmark_defaults()))
    unknown = [m for m in chosen if m not in MODEL_SPECS]
    if unknown:
        raise PdsError(f"--models {', '.join(unknown)}: choose from {', '.join(MODEL_SPECS)}")
    return chosen
