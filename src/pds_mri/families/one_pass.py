"""What the one-pass baselines share: one training stage, one deterministic forward pass to synthesise.

A baseline family subclasses `OnePassFamily` and says how to build its training objective (a module with a
``generator`` whose ``synthesize(batch)`` returns (estimate, zeros)); everything else is here.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, cast

import torch
from torch import Tensor, nn

from pds_mri.config import Config
from pds_mri.disease.run_priors import RunPriors
from pds_mri.families.base import FamilyTraining, ModelFamily, Sampling, Synthesizer, TrainedModel
from pds_mri.models.baselines.config import BaselineConfig
from pds_mri.training.config import TrainerConfig
from pds_mri.training.weights import load_ema_weights, trained_checkpoint


def baseline_config(config: Config) -> BaselineConfig:
    """The `baselines:` section of the config when it has one, else the defaults."""
    section = getattr(config, "baselines", None)
    return section if isinstance(section, BaselineConfig) else BaselineConfig()


def baseline_training(config: Config) -> TrainerConfig:
    """A one-stage baseline's trainer settings: stage 1's, with PDS's stage-1 + stage-2 steps by default, so
    every model gets the same optimiser steps × batch (``baselines.budget: stage1`` for stage 1's only)."""
    stage1 = config.training.stage1
    if baseline_config(config).budget == "stage1":
        return stage1
    return stage1.model_copy(update={"steps": stage1.steps + config.training.stage2.steps})


class OnePassSynthesizer(Synthesizer):
    """The generator's one deterministic pass: no sampler, no conditioning, a std of zeros."""

    uses_conditioning = False

    def __init__(self, generator: nn.Module, config: Config) -> None:
        self.generator = generator
        self.guidance = config.model.diffusion.guidance

    @property
    def device(self) -> torch.device:
        return next(self.generator.parameters()).device

    def sampling(
        self, steps: int | None = None, samples: int = 1, guidance: float | None = None, mode: str | None = None
    ) -> Sampling:
        return Sampling(
            sampler="none (one forward pass)",
            mode="one pass",
            steps=1,
            mean_steps=None,
            samples=samples,
            guidance=self.guidance if guidance is None else guidance,
            evaluations=1,
            estimate="one deterministic forward pass",
        )

    def synthesize(
        self,
        batch: dict[str, Tensor],
        sampling: Sampling,
        generator: torch.Generator,
        samples_out: list[Tensor] | None = None,
    ) -> tuple[Tensor, Tensor]:
        # deterministic: there are no samples to keep, and the std is zero whatever ``sampling.samples``
        synthesize = cast(Callable[[dict[str, Tensor]], tuple[Tensor, Tensor]], self.generator.synthesize)
        return synthesize(batch)


class OnePassTraining(FamilyTraining):
    def __init__(self, objective: nn.Module, config: Config) -> None:
        self.objective_module = objective
        self.config = config

    def stages(self) -> tuple[str, ...]:
        return ("stage1",)

    def objective(self, stage: str, run_dir: Path, priors: RunPriors, stage1_from: Path | None) -> nn.Module:
        return self.objective_module

    def trainer_config(self, stage: str) -> TrainerConfig:
        return baseline_training(self.config)

    def validation_synthesizer(self, stage: str, objective: nn.Module) -> Synthesizer:
        return OnePassSynthesizer(cast(nn.Module, objective.generator), self.config)


class OnePassFamily(ModelFamily):
    STAGES: ClassVar[tuple[str, ...]] = ("stage1",)
    uses_priors = False

    @abstractmethod
    def build_objective(self, config: Config) -> nn.Module:
        """The training objective: a module with a ``generator`` and ``forward(batch, generator)`` losses."""

    def start_training(self, config: Config, prepared_dir: Path) -> FamilyTraining:
        return OnePassTraining(self.build_objective(config), config)

    def load(self, run_dir: Path, config: Config, prepared_dir: Path, device: torch.device) -> TrainedModel:
        directory = trained_checkpoint(Path(run_dir) / "stage1")
        if directory is None:
            raise FileNotFoundError(run_dir / "stage1")  # callers check for a checkpoint first (families.load_run)
        holder = self.build_objective(config).to(device)
        sha = load_ema_weights(holder, directory)
        generator = cast(nn.Module, holder.generator).eval()
        return TrainedModel(OnePassSynthesizer(generator, config), "stage1", sha)

    def parts(self, objective: nn.Module) -> dict[str, nn.Module]:
        """The trained parts whose parameters count (the generator; a discriminator too where there is one)."""
        return {"generator": cast(nn.Module, objective.generator)}

    def parameter_counts(self, config: Config, prepared_dir: Path) -> dict[str, int]:
        parts = self.parts(self.build_objective(config))
        counts = {k: sum(p.numel() for p in m.parameters()) for k, m in parts.items()}
        return {**counts, "total": sum(counts.values())}

    def model_info(self, config: Config) -> dict[str, Any]:
        return {"baseline": baseline_config(config).model_dump(mode="json")}

    def card_lines(self, config: Config) -> list[str]:
        m = config.model
        return [
            f"- preset `{config.preset}`; generator: the PDS denoiser architecture ({m.base_channels} base channels, "
            f"{m.levels} levels), one deterministic pass; settings in `model.json`"
        ]
