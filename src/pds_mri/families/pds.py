"""The ``pds`` family: PDS and every variant that is PDS code with config overrides (ablations, ``ddpm``).

Two stages — the pattern-aware conditional diffusion, then the tissue and microstructure refiners (when either
is switched on) — and a synthesis that samples with the run's configured sampler, steps, mode and guidance.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, cast

import torch
from torch import Tensor, nn

from pds_mri.config import Config
from pds_mri.diffusion.schedule import NoiseSchedule
from pds_mri.disease.run_priors import RunPriors
from pds_mri.errors import PdsError
from pds_mri.families.base import FAMILIES, FamilyTraining, ModelFamily, Sampling, Synthesizer, TrainedModel
from pds_mri.families.spec import ModelSpec, Resynthesis
from pds_mri.io.pattern_table import roi_networks
from pds_mri.models.factory import build_config_sampler, build_pds, build_schedule
from pds_mri.models.pds import PDS
from pds_mri.models.pds_objectives import Stage1Objective, Stage2Objective, freeze_for_stage, is_stage1_key
from pds_mri.training.checkpoint import load_checkpoint
from pds_mri.training.config import TrainerConfig
from pds_mri.training.weights import load_ema_weights, trained_checkpoint

STAGES = ("stage1", "stage2")
#: the plain conditional DDPM baseline: PDS code with every PDS addition off
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


def synthesis_evaluations(mode: str, steps: int, mean_steps: int, samples: int) -> int:
    """Denoiser evaluations of one synthesis (guidance doubles them): the readout, then any samples."""
    if mode == "mean":
        return mean_steps + (samples * steps if samples > 1 else 0)
    return samples * steps


def _estimate_text(mode: str, mean_steps: int, steps: int, samples: int) -> str:
    if mode == "mean":
        std = f"; std over {samples} posterior samples of {steps} steps" if samples > 1 else ""
        return f"posterior-mean readout after {mean_steps} denoiser evaluation(s), refined{std}"
    return f"mean of {samples} refined posterior sample(s), {steps} sampler steps each"


class PdsSynthesizer(Synthesizer):
    """The full synthesis: the stage-1 estimate of the configured mode, refined (`PDS.synthesize`)."""

    uses_conditioning = True

    def __init__(self, pds: PDS, config: Config) -> None:
        self.pds = pds
        self.diffusion = config.model.diffusion
        self.sampler = build_config_sampler(self.diffusion)

    @property
    def device(self) -> torch.device:
        return next(self.pds.parameters()).device

    def sampling(
        self, steps: int | None = None, samples: int = 1, guidance: float | None = None, mode: str | None = None
    ) -> Sampling:
        d = self.diffusion
        mode, steps = mode or d.mode, steps or d.steps
        return Sampling(
            sampler=d.sampler,
            mode=mode,
            steps=steps,
            mean_steps=d.mean_steps,
            samples=samples,
            guidance=d.guidance if guidance is None else guidance,
            evaluations=synthesis_evaluations(mode, steps, d.mean_steps, samples),
            estimate=_estimate_text(mode, d.mean_steps, steps, samples),
        )

    def synthesize(
        self,
        batch: dict[str, Tensor],
        sampling: Sampling,
        generator: torch.Generator,
        samples_out: list[Tensor] | None = None,
    ) -> tuple[Tensor, Tensor]:
        return self.pds.synthesize(
            batch,
            self.sampler,
            sampling.steps,
            sampling.samples,
            sampling.guidance,
            generator,
            mode=sampling.mode,
            mean_steps=cast(int, sampling.mean_steps),
            samples_out=samples_out,
        )


class Stage1Synthesizer(PdsSynthesizer):
    """While stage 1 trains: the unrefined stage-1 estimate (`PDS.estimate_stage1`), clamped to [-1, 1]."""

    def synthesize(
        self,
        batch: dict[str, Tensor],
        sampling: Sampling,
        generator: torch.Generator,
        samples_out: list[Tensor] | None = None,
    ) -> tuple[Tensor, Tensor]:
        s = sampling
        est = self.pds.estimate_stage1(
            batch, self.sampler, s.steps, s.mode, cast(int, s.mean_steps), s.guidance, generator
        ).clamp(-1, 1)
        return est, torch.zeros_like(est)


class PdsTraining(FamilyTraining):
    def __init__(self, config: Config, prepared_dir: Path) -> None:
        self.config = config
        self.pds = build_pds(config.model, roi_networks(prepared_dir))
        self.schedule = build_schedule(config.model.diffusion)

    def stages(self) -> tuple[str, ...]:
        return STAGES if self.pds.has_stage2 else ("stage1",)

    def objective(self, stage: str, run_dir: Path, priors: RunPriors, stage1_from: Path | None) -> nn.Module:
        if stage == "stage2":
            load_stage1_weights(self.pds, self.schedule, run_dir, stage1_from)
        freeze_for_stage(self.pds, stage)
        if stage == "stage1":
            return Stage1Objective(self.pds, self.schedule, priors.map_tensors())
        return Stage2Objective(self.pds, self.config.model.diffusion)

    def trainer_config(self, stage: str) -> TrainerConfig:
        return cast(TrainerConfig, getattr(self.config.training, stage))

    def validation_synthesizer(self, stage: str, objective: nn.Module) -> Synthesizer:
        pds = cast(PDS, objective.pds)
        return Stage1Synthesizer(pds, self.config) if stage == "stage1" else PdsSynthesizer(pds, self.config)


def load_stage1_weights(pds: PDS, schedule: NoiseSchedule, run_dir: Path, source: Path | None) -> None:
    """Stage 2 starts from stage 1's EMA weights (best by validation PSNR, else last).

    With ``source`` the stage-1 weights come from another run (e.g. the full PDS of the same fold): an
    ablation of a stage-2 component then differs from PDS in that component only. Only the stage-1 part
    (denoiser, conditioning, pattern encoder) is taken, and it must match this model's exactly.
    """
    stage1_dir = Path(source or run_dir) / "stage1"
    directory = trained_checkpoint(stage1_dir)
    if directory is None:
        hint = "train it first" if source else "run `pds train --stage 1` first"
        raise PdsError(f"{Path(source or run_dir)}: stage 2 needs a trained stage 1; {hint}")
    if source is None:
        load_ema_weights(Stage1Objective(pds, schedule), directory)
        return
    ema = load_checkpoint(directory).group("ema")
    shadow = {k.removeprefix("shadow."): v for k, v in ema.items() if k.startswith("shadow.")}
    theirs = {k: v for k, v in shadow.items() if is_stage1_key(k)}
    mine = {k: v for k, v in Stage1Objective(pds, schedule).state_dict().items() if is_stage1_key(k)}
    differ = sorted(set(theirs) ^ set(mine)) or sorted(k for k in mine if theirs[k].shape != mine[k].shape)
    if differ:
        raise PdsError(f"{directory}: its stage 1 does not fit this model (first difference: {differ[0]})")
    with torch.no_grad():
        for key, value in mine.items():
            value.copy_(theirs[key])


def load_trained_pds(run_dir: Path, config: Config, prepared_dir: Path, device: torch.device) -> tuple[PDS, str, str]:
    """The PDS of a run with EMA weights: stage 2 when trained, else stage 1. Returns (pds, stage, sha)."""
    pds = build_pds(config.model, roi_networks(prepared_dir))
    schedule = build_schedule(config.model.diffusion)
    for stage in reversed(STAGES):
        directory = trained_checkpoint(Path(run_dir) / stage)
        if directory is not None:
            holder = (
                Stage1Objective(pds, schedule) if stage == "stage1" else Stage2Objective(pds, config.model.diffusion)
            )
            sha = load_ema_weights(holder.to(device), directory)
            return pds.eval(), stage, sha
    raise PdsError(f"{run_dir}: no checkpoint found; train first with `pds train`")


class PdsFamily(ModelFamily):
    name = "pds"
    specs = (
        ModelSpec(
            "pds", "pds", "PDS (pattern-aware diffusion + tissue and microstructure refinement)", benchmark_default=True
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
    STAGES: ClassVar[tuple[str, ...]] = STAGES
    uses_priors = True

    def start_training(self, config: Config, prepared_dir: Path) -> FamilyTraining:
        return PdsTraining(config, prepared_dir)

    def load(self, run_dir: Path, config: Config, prepared_dir: Path, device: torch.device) -> TrainedModel:
        pds, stage, sha = load_trained_pds(run_dir, config, prepared_dir, device)
        return TrainedModel(PdsSynthesizer(pds, config), stage, sha)

    def parameter_counts(self, config: Config, prepared_dir: Path) -> dict[str, int]:
        counts = build_pds(config.model, roi_networks(prepared_dir)).parameter_counts()
        return {k: v for k, v in counts.items() if v}

    def card_lines(self, config: Config) -> list[str]:
        m = config.model
        return [
            f"- preset `{config.preset}`; pattern {m.use_pattern}, tissue refinement {m.use_tissue}, "
            f"microstructure refinement {m.use_micro}",
            f"- diffusion: {m.diffusion.schedule} schedule, {m.diffusion.prediction_type} "
            f"prediction, {m.diffusion.sampler} with {m.diffusion.steps} steps",
        ]


FAMILIES.add(PdsFamily.name, PdsFamily(), help="pattern-aware diffusion + refiners, and its config variants")
