"""What a model family is: the one contract `pds train`, `pds synthesize` and the benchmark talk to.

A family is the code that trains and samples a kind of model (``pds``; the one-pass baselines ``unet`` and
``pix2pix3d``). Each family declares its named models (`specs`, collected by `pds_mri.workflows.models`);
every family-specific decision — its stages, its training objective per stage, its trainer settings, how it
synthesises and what its sidecars say about that — lives in the family's one file under `pds_mri/families/`,
so train, synthesize and the benchmark never branch on a family name.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from pds_mri.config import Config
from pds_mri.disease.run_priors import RunPriors
from pds_mri.families.spec import ModelSpec
from pds_mri.registry import Registry
from pds_mri.training.config import TrainerConfig


@dataclass(frozen=True)
class Sampling:
    """How one synthesis is made, resolved from the run's config and the command's options; the sidecar's
    sampling fields are taken from here."""

    sampler: str  # the configured sampler, or "none (one forward pass)"
    mode: str  # "mean" | "sample" | "one pass"
    steps: int
    mean_steps: int | None
    samples: int
    guidance: float
    evaluations: int  # denoiser evaluations of one synthesis (guidance doubles them)
    estimate: str  # one sentence for the sidecar's "Estimate"


class Synthesizer(ABC):
    """A trained model's synthesis: it owns its sampler, so callers never pass sampler arguments it ignores."""

    #: whether the synthesis conditions on a diagnosis or the run's disease-state estimate at all
    uses_conditioning: ClassVar[bool]

    @abstractmethod
    def sampling(
        self, steps: int | None = None, samples: int = 1, guidance: float | None = None, mode: str | None = None
    ) -> Sampling:
        """The synthesis these options ask for (None: the run's configured value)."""

    @abstractmethod
    def synthesize(
        self,
        batch: dict[str, Tensor],
        sampling: Sampling,
        generator: torch.Generator,
        samples_out: list[Tensor] | None = None,
    ) -> tuple[Tensor, Tensor]:
        """(estimate, voxel-wise std), both (B, 1, X, Y, Z) in [-1, 1] model units, background outside the mask."""

    @property
    @abstractmethod
    def device(self) -> torch.device: ...


class FamilyTraining(ABC):
    """One run's networks while `pds train` trains them, stage after stage."""

    @abstractmethod
    def stages(self) -> tuple[str, ...]:
        """The stages this run trains, in order (a subset of its family's ``STAGES``)."""

    @abstractmethod
    def objective(self, stage: str, run_dir: Path, priors: RunPriors, stage1_from: Path | None) -> nn.Module:
        """The Trainer's module for ``stage``: ``forward(batch, generator) -> {"loss": ..., ...}``."""

    @abstractmethod
    def trainer_config(self, stage: str) -> TrainerConfig: ...

    @abstractmethod
    def validation_synthesizer(self, stage: str, objective: nn.Module) -> Synthesizer:
        """What validation synthesises with while ``stage`` trains (``objective`` holds the EMA weights)."""


@dataclass(frozen=True)
class TrainedModel:
    """A run's model loaded for synthesis: its synthesizer, the stage and checkpoint hash its weights are from."""

    synthesizer: Synthesizer
    stage: str
    sha256: str


class ModelFamily(ABC):
    """The contract every family implements; `tests/families/test_family_contract.py` runs it on each one."""

    name: ClassVar[str]
    #: every stage the family can train; `pds train --stage N` is refused for others
    STAGES: ClassVar[tuple[str, ...]]
    #: whether its runs fit disease-informed priors on their training subjects
    uses_priors: ClassVar[bool]
    #: the named models of this family, its own (named as the family) first; the model registry
    #: (`pds_mri.workflows.models`) collects them, so `--model`, the benchmark and their errors know them
    specs: ClassVar[tuple[ModelSpec, ...]]

    @abstractmethod
    def start_training(self, config: Config, prepared_dir: Path) -> FamilyTraining:
        """Build the networks of a new or continued run (after the run's seed is set)."""

    @abstractmethod
    def load(self, run_dir: Path, config: Config, prepared_dir: Path, device: torch.device) -> TrainedModel:
        """The trained model of ``run_dir`` with its EMA weights, on ``device``."""

    @abstractmethod
    def parameter_counts(self, config: Config, prepared_dir: Path) -> dict[str, int]:
        """Trained parameters per part, with a ``total``."""

    def model_info(self, config: Config) -> dict[str, Any]:
        """Extra fields of the run's model.json."""
        return {}

    @abstractmethod
    def card_lines(self, config: Config) -> list[str]:
        """The model card's lines about this model's settings."""


#: every model family by name; each family's file adds its one instance
FAMILIES: Registry[ModelFamily] = Registry("model family", default="pds")
