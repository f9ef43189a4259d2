"""PDS's two training objectives, as the Trainer's modules, and which parameters each stage trains."""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

import torch
from torch import nn

from pds_mri.diffusion.schedule import NoiseSchedule
from pds_mri.domain import DIRECTIONS
from pds_mri.models.config import DiffusionConfig
from pds_mri.models.factory import build_config_sampler
from pds_mri.models.pds import PDS
from pds_mri.training.sample_rng import Rng


class Stage1Objective(nn.Module):
    """Both directions' stage-1 losses in one forward, so DDP synchronises gradients through __call__."""

    def __init__(
        self, pds: PDS, schedule: NoiseSchedule, disease_maps: Mapping[str, torch.Tensor] | None = None
    ) -> None:
        super().__init__()
        self.pds = pds
        self.schedule = schedule
        # the training fold's disease-pattern maps (not parameters: they are fitted, then fixed)
        self.disease_maps = dict(disease_maps or {})

    def forward(self, batch: Mapping, generator: Rng) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        total: torch.Tensor | int = 0
        for direction in DIRECTIONS:
            part = batch[direction]
            if direction in self.disease_maps:
                target = part["target"]
                disease = self.disease_maps[direction].to(target.device, target.dtype)
                part = {**part, "disease_map": disease.expand(target.shape[0], *disease.shape)}
            terms = self.pds.stage1_loss(part, self.schedule, generator)
            total = total + terms["loss"]
            out |= {f"{direction}/{k}": v.detach() for k, v in terms.items() if k != "loss"}
        out["loss"] = cast(torch.Tensor, total)  # a Tensor: DIRECTIONS is not empty
        return out


class Stage2Objective(nn.Module):
    """Refiner losses on stage-1 estimates of the frozen stage-1 EMA weights.

    ``stage2_estimate: synthesis`` (default) makes them exactly as synthesis does (mode, steps, mean_steps),
    so the refiners learn to correct the estimate they will be given; ``sample`` draws ``stage2_steps``-step
    posterior samples instead (the behaviour before synthesis modes existed).
    """

    def __init__(self, pds: PDS, diffusion: DiffusionConfig) -> None:
        super().__init__()
        d = diffusion
        self.pds = pds
        self.sampler = build_config_sampler(d)
        if d.stage2_estimate == "synthesis":
            self.mode, self.steps, self.mean_steps = d.mode, d.steps, d.mean_steps
        else:
            self.mode, self.steps, self.mean_steps = "sample", d.stage2_steps, d.mean_steps

    def forward(self, batch: Mapping, generator: Rng) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        total: torch.Tensor | int = 0
        for direction in DIRECTIONS:
            terms = self.pds.stage2_loss(
                batch[direction],
                sampler=self.sampler,
                steps=self.steps,
                generator=generator,
                mode=self.mode,
                mean_steps=self.mean_steps,
            )
            total = total + terms["loss"]
            out |= {f"{direction}/{k}": v.detach() for k, v in terms.items() if k != "loss"}
        out["loss"] = cast(torch.Tensor, total)  # a Tensor: DIRECTIONS is not empty
        return out


def freeze_for_stage(pds: PDS, stage: str) -> None:
    """Stage 1 trains the denoiser and its conditioning; stage 2 only the refiners."""
    refiners = {id(p) for p in pds.stage_parameters(2)}
    for p in pds.parameters():
        p.requires_grad_((id(p) in refiners) == (stage == "stage2"))


def is_stage1_key(key: str) -> bool:
    """Whether a Stage1Objective state-dict key ("pds.<module>....") belongs to a stage-1 module."""
    parts = key.split(".")
    return len(parts) > 2 and parts[0] == "pds" and parts[1] in PDS.STAGE1_MODULES
