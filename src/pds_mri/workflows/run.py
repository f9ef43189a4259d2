"""A training run directory: its config, atlas networks, split, objectives and trained PDS.

Shared by `pds train` (writes it) and `pds synthesize` (reads it), so both agree on one layout:
RUN_DIR/config.yaml, split.json, normalisation.json, stage1/, stage2/ (checkpoints + logs), MODEL_CARD.md.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from pds_mri.config import Config, load_config
from pds_mri.diffusion.schedule import NoiseSchedule
from pds_mri.errors import InputError, PdsError
from pds_mri.io import layout
from pds_mri.models.config import build_config_sampler, build_pds, build_schedule
from pds_mri.models.pds import PDS
from pds_mri.training.data import DIRECTIONS

#: Dosenbach-160 networks, in a fixed order: the index is what the pattern encoder sees.
NETWORKS = ("default", "fronto-parietal", "cingulo-opercular", "sensorimotor", "occipital", "cerebellum")
STAGES = ("stage1", "stage2")


def roi_networks(prepared_dir: Path) -> list[int]:
    """Network index of each ROI label 1..160 (entry r-1), from the prepared atlas table."""
    path = Path(prepared_dir) / layout.PATTERN_TABLE
    try:
        rows = list(csv.DictReader(path.read_text().splitlines(), delimiter="\t"))
    except FileNotFoundError:
        raise InputError(path, "pattern table missing; run `pds prepare` again") from None
    rows.sort(key=lambda r: int(r["label"]))
    unknown = {r["network"] for r in rows} - set(NETWORKS)
    if unknown or not rows:
        raise InputError(path, f"unexpected networks {sorted(unknown)}")
    return [NETWORKS.index(r["network"]) for r in rows]


class Stage1Objective(nn.Module):
    """Both directions' stage-1 losses in one forward, so DDP synchronises gradients through __call__."""

    def __init__(self, pds: PDS, schedule: NoiseSchedule) -> None:
        super().__init__()
        self.pds = pds
        self.schedule = schedule

    def forward(self, batch: Mapping, generator: torch.Generator) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        total = 0
        for direction in DIRECTIONS:
            terms = self.pds.stage1_loss(batch[direction], self.schedule, generator)
            total = total + terms["loss"]
            out |= {f"{direction}/{k}": v.detach() for k, v in terms.items() if k != "loss"}
        out["loss"] = total
        return out


class Stage2Objective(nn.Module):
    """Refiner losses on cheap stage-1 estimates sampled from the frozen stage-1 EMA weights."""

    def __init__(self, pds: PDS, config: Config) -> None:
        super().__init__()
        self.pds = pds
        self.sampler = build_config_sampler(config.model.diffusion)
        self.steps = config.model.diffusion.stage2_steps

    def forward(self, batch: Mapping, generator: torch.Generator) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        total = 0
        for direction in DIRECTIONS:
            terms = self.pds.stage2_loss(batch[direction], sampler=self.sampler, steps=self.steps, generator=generator)
            total = total + terms["loss"]
            out |= {f"{direction}/{k}": v.detach() for k, v in terms.items() if k != "loss"}
        out["loss"] = total
        return out


def freeze_for_stage(pds: PDS, stage: str) -> None:
    """Stage 1 trains the denoiser and its conditioning; stage 2 only the refiners."""
    refiners = {id(p) for p in pds.stage_parameters(2)}
    for p in pds.parameters():
        p.requires_grad_((id(p) in refiners) == (stage == "stage2"))


def build_model(config: Config, prepared_dir: Path) -> tuple[PDS, NoiseSchedule]:
    return build_pds(config.model, roi_networks(prepared_dir)), build_schedule(config.model.diffusion)


def load_run_config(run_dir: Path) -> Config:
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise InputError(run_dir, "not a training run (config.yaml missing)")
    return load_config(path)


def load_trained_pds(run_dir: Path, prepared_dir: Path, device: torch.device) -> tuple[PDS, Config, str, str]:
    """The PDS of a run with EMA weights: stage 2 when trained, else stage 1. Returns (pds, config, stage, sha)."""
    from pds_mri.training.checkpoint import checkpoint_dir, load_checkpoint
    from pds_mri.training.ema import EMA

    config = load_run_config(run_dir)
    pds, schedule = build_model(config, prepared_dir)
    for stage in reversed(STAGES):
        for name in ("best", "last"):
            directory = checkpoint_dir(Path(run_dir) / stage, name)
            if directory.exists():
                ckpt = load_checkpoint(directory)
                holder = (Stage1Objective(pds, schedule) if stage == "stage1" else Stage2Objective(pds, config)).to(
                    device
                )
                ema = EMA(holder)
                try:
                    ema.load_state_dict(ckpt.group("ema"))
                except (RuntimeError, KeyError, ValueError) as exc:
                    raise PdsError(f"{directory}: checkpoint does not fit the run's config ({exc})") from None
                ema.copy_to(holder)
                return pds.eval(), config, stage, ckpt.sha256
    raise PdsError(f"{run_dir}: no checkpoint found; train first with `pds train`")
