"""A training run directory: its config, atlas networks, split, objectives and trained model.

Shared by `pds train` (writes it) and `pds synthesize` (reads it), so both agree on one layout:
RUN_DIR/config.yaml, model.json, split.json, normalisation.json, stage1/, stage2/ (checkpoints + logs),
MODEL_CARD.md. `model.json` names the model (`MODEL_SPECS`); a run without it is a `pds` run.

Models (`pds train --model NAME`):

* ``pds`` and its ablations ``pds-no-pattern`` / ``pds-no-tissue`` / ``pds-no-micro`` (one config flag each),
  ``pds-50steps`` (PDS sampled with 50 steps), ``pds-mean4`` (a pds run whose benchmark synthesis is the mean
  of 4 samples; ``pds synthesize --samples 4`` does the same for any run) and ``ddpm`` — the plain conditional
  diffusion baseline: PDS with every PDS component off (no pattern, no diagnosis, no refiners), ε-prediction on
  the linear schedule, DDIM with 50 leading-spaced steps (diffusers' DDIMScheduler defaults). These are PDS runs
  whose config carries the overrides, so training, checkpoints and synthesis are PDS's own code.
* ``unet`` and ``pix2pix3d``: one-stage baselines (`pds_mri.models.baselines`), trained for the stage-1
  budget (``training.stage1``: steps × batch) in RUN_DIR/stage1.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn

from pds_mri.config import Config, load_own_config
from pds_mri.diffusion.schedule import NoiseSchedule
from pds_mri.errors import InputError, PdsError
from pds_mri.io import layout
from pds_mri.io.json_files import field, read_json
from pds_mri.io.layout import NETWORKS
from pds_mri.models.factory import build_config_sampler, build_pds, build_schedule
from pds_mri.models.pds import PDS
from pds_mri.training.config import TrainerConfig
from pds_mri.training.data import DIRECTIONS
from pds_mri.workflows.models import MODEL_SPECS, ModelSpec, model_spec

STAGES = ("stage1", "stage2")
MODEL_FILE = "model.json"


def apply_overrides(values: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge ``overrides`` into a copy of ``values`` (config dicts)."""
    out = dict(values)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = apply_overrides(out[key], value)
        else:
            out[key] = value
    return out


def baseline_config(config: Config):
    """The `baselines:` section of the config when it has one, else the defaults."""
    from pds_mri.models.baselines.config import BaselineConfig

    section = getattr(config, "baselines", None)
    return section if isinstance(section, BaselineConfig) else BaselineConfig()


def baseline_training(config: Config) -> TrainerConfig:
    """A one-stage baseline's trainer settings: stage 1's, with PDS's stage-1 + stage-2 steps by default, so
    every model gets the same optimiser steps × batch (``baselines.budget: stage1`` for stage 1's only)."""
    stage1 = config.training.stage1
    if baseline_config(config).budget == "stage1":
        return stage1
    return stage1.model_copy(update={"steps": stage1.steps + config.training.stage2.steps})


def write_model_file(run_dir: Path, spec: ModelSpec, config: Config) -> None:
    from pds_mri.io.atomic import write_json

    info: dict[str, Any] = {"model": spec.name, "family": spec.family, "description": spec.description}
    info["overrides"] = spec.overrides
    if spec.family != "pds":
        info["baseline"] = baseline_config(config).model_dump(mode="json")
    write_json(Path(run_dir) / MODEL_FILE, info)


NORMALISATION_FILE = "normalisation.json"


def read_run_normalisation(run_dir: Path) -> dict[str, dict[str, Any]]:
    """Per modality, the training cohort's median normalisation (`pds train` writes it), checked field by field:
    a synthesis of a subject without the target puts its map back into input units with these numbers."""
    from pds_mri.preprocess.normalise import Normalisation

    path = Path(run_dir) / NORMALISATION_FILE
    data = read_json(path, "run normalisation", "it is written by `pds train`; train the run again")
    out: dict[str, dict[str, Any]] = {}
    for modality in ("fmri", "dmri"):
        entry = field(data, modality, dict, path)
        try:
            Normalisation.from_json(entry)
        except ValueError as exc:
            raise InputError(path, f"{modality}: {exc}") from None
        out[modality] = entry
    return out


def read_model_name(run_dir: Path) -> str:
    """The model a run directory holds (`pds` for runs written before model.json existed)."""
    path = Path(run_dir) / MODEL_FILE
    if not path.is_file():
        return "pds"
    name = field(read_json(path, "model.json", 'expected {"model": NAME}'), "model", str, path)
    if name not in MODEL_SPECS:
        raise InputError(path, f"unknown model '{name}'")
    return str(name)


def roi_networks(prepared_dir: Path) -> list[int]:
    """Network index of each ROI label 1..160 (entry r-1), from the prepared atlas table."""
    from pds_mri.io.tables import read_index

    path = Path(prepared_dir) / layout.PATTERN_TABLE
    hint = "written by `pds prepare`; run it again"
    rows = read_index(path, ("label", "network"), hint)
    labels = [str(r["label"] or "").strip() for r in rows]
    if labels != [str(i) for i in range(1, len(labels) + 1)] or len(labels) != 160:
        raise InputError(path, f"expected the ROI labels 1..160 in order, one per line; {hint}")
    unknown = {r["network"] for r in rows} - set(NETWORKS)
    if unknown:
        raise InputError(path, f"unexpected networks {sorted(str(u) for u in unknown)}; {hint}")
    return [NETWORKS.index(str(r["network"])) for r in rows]


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

    def forward(self, batch: Mapping, generator: torch.Generator) -> dict[str, torch.Tensor]:
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

    def __init__(self, pds: PDS, config: Config) -> None:
        super().__init__()
        d = config.model.diffusion
        self.pds = pds
        self.sampler = build_config_sampler(d)
        if d.stage2_estimate == "synthesis":
            self.mode, self.steps, self.mean_steps = d.mode, d.steps, d.mean_steps
        else:
            self.mode, self.steps, self.mean_steps = "sample", d.stage2_steps, d.mean_steps

    def forward(self, batch: Mapping, generator: torch.Generator) -> dict[str, torch.Tensor]:
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


def build_objective(spec: ModelSpec, config: Config, prepared_dir: Path, stage: str = "stage1") -> nn.Module:
    """The Trainer's module for a baseline (one stage); PDS objectives are built by `pds train` itself."""
    from pds_mri.models.baselines.factory import build_discriminator, build_generator
    from pds_mri.models.baselines.pix2pix import Pix2PixObjective
    from pds_mri.models.baselines.unet import RegressionObjective

    if spec.family == "unet":
        return RegressionObjective(build_generator(config.model), baseline_config(config).loss)
    if spec.family == "pix2pix3d":
        cfg = baseline_config(config)
        return Pix2PixObjective(
            build_generator(config.model),
            build_discriminator(config.model, cfg),
            cfg,
            config.training.stage1.lr,
        )
    raise PdsError(f"{spec.name}: not a baseline family")


def build_model(config: Config, prepared_dir: Path) -> tuple[PDS, NoiseSchedule]:
    return build_pds(config.model, roi_networks(prepared_dir)), build_schedule(config.model.diffusion)


def trained_parameters(run_dir: Path, prepared_dir: Path) -> dict[str, int]:
    """Parameters each part of a run's model trains (refiners and the pix2pix discriminator included)."""
    config = load_run_config(run_dir)
    spec = model_spec(read_model_name(run_dir))
    if spec.family == "pds":
        counts = build_pds(config.model, roi_networks(prepared_dir)).parameter_counts()
        return {k: v for k, v in counts.items() if v}
    objective = build_objective(spec, config, prepared_dir)
    parts = {"generator": cast(nn.Module, objective.generator)}
    if spec.family == "pix2pix3d":
        parts["discriminator"] = cast(nn.Module, objective.discriminator)
    counts = {k: sum(p.numel() for p in m.parameters()) for k, m in parts.items()}
    return {**counts, "total": sum(counts.values())}


def last_trainer_states(run_dir: Path, stages: tuple[str, ...] = STAGES) -> dict[str, dict[str, Any]]:
    """The trainer state of each trained stage's last checkpoint (kept across resumes), by stage."""
    out: dict[str, dict[str, Any]] = {}
    for stage in stages:
        state = Path(run_dir) / stage / "checkpoints" / "last" / "state.json"
        if state.is_file():
            out[stage] = field(read_json(state, "checkpoint state"), "trainer", dict, state)
    return out


def optimiser_steps(run_dir: Path) -> dict[str, int]:
    """Optimiser steps per training stage, from the stages' last checkpoints (batch size 1 per direction)."""
    return {stage: int(t["step"]) for stage, t in last_trainer_states(run_dir).items()}


def check_run_fits_input(run_dir: Path, run_config: Config, prepared_dir: Path) -> None:
    """A run synthesises only from maps made as the ones it was trained on: the same model grids, the same map
    kinds and the settings that change their values. Anything else would run, and be wrong."""
    path = Path(prepared_dir) / "config.yaml"
    if not path.is_file():
        raise InputError(prepared_dir, "not a prepared directory (config.yaml missing); run `pds prepare`")
    prepared = load_own_config(path, "pds prepare")
    trained, given = run_config.maps, prepared.maps
    fields = ["fmri_map", "dmri_map", "norm_percentiles"]
    if "alff" in trained.fmri_map:
        fields += ["alff_band_hz", "dummy_scans"]
    if trained.dmri_map in ("fa", "md"):
        fields += ["dti_max_b", "b0_threshold"]
    pairs = [(f"maps.{f}", getattr(trained, f), getattr(given, f)) for f in fields]
    for modality in ("fmri", "dmri"):
        for key in ("shape", "voxel_mm", "center_mm"):
            pairs.append(
                (
                    f"grids.{modality}.{key}",
                    getattr(getattr(run_config.grids, modality), key),
                    getattr(getattr(prepared.grids, modality), key),
                )
            )
    for name, a, b in pairs:
        if _comparable(a) != _comparable(b):
            raise PdsError(
                f"{run_dir} was trained with {name} = {_show(a)} but {prepared_dir} was prepared with {_show(b)}: "
                "prepare the input with the run's config (`pds prepare --config RUN_DIR/config.yaml`) or use a run "
                "trained on such maps"
            )


def _comparable(value: Any) -> Any:
    return tuple(float(v) for v in value) if isinstance(value, tuple | list) else value


def _show(value: Any) -> str:
    return str(list(value)) if isinstance(value, tuple | list) else repr(value)


def load_run_config(run_dir: Path) -> Config:
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise InputError(run_dir, "not a training run (config.yaml missing)")
    return load_own_config(path, "pds train")


def trained_checkpoint(stage_dir: Path) -> Path | None:
    """The checkpoint a stage's weights are taken from: `best` by validation, else `last`; None if untrained."""
    from pds_mri.training.checkpoint import checkpoint_dir, checkpoint_exists

    for name in ("best", "last"):
        directory = checkpoint_dir(stage_dir, name)
        if checkpoint_exists(directory):
            return directory
    return None


def load_ema_weights(holder: nn.Module, directory: Path) -> str:
    """Put a checkpoint's EMA weights (the ones used for sampling) into `holder`; return the checkpoint hash."""
    from pds_mri.training.checkpoint import load_checkpoint
    from pds_mri.training.ema import EMA

    ckpt = load_checkpoint(directory)
    ema = EMA(holder)
    try:
        ema.load_state_dict(ckpt.group("ema"))
    except (RuntimeError, KeyError, ValueError) as exc:
        raise PdsError(f"{directory}: checkpoint does not fit the run's config ({exc})") from None
    ema.copy_to(holder)
    broken = [name for name, t in holder.state_dict().items() if t.is_floating_point() and not torch.isfinite(t).all()]
    if broken:
        raise InputError(
            directory / "tensors.safetensors",
            f"the checkpoint's EMA weights are not finite ({len(broken)} tensor(s), e.g. {broken[0]}): it would "
            "synthesise NaN maps; retrain, or resume from an earlier checkpoint",
        )
    return ckpt.sha256


def load_trained_pds(run_dir: Path, prepared_dir: Path, device: torch.device) -> tuple[PDS, Config, str, str]:
    """The PDS of a run with EMA weights: stage 2 when trained, else stage 1. Returns (pds, config, stage, sha)."""
    config = load_run_config(run_dir)
    pds, schedule = build_model(config, prepared_dir)
    for stage in reversed(STAGES):
        directory = trained_checkpoint(Path(run_dir) / stage)
        if directory is not None:
            holder = Stage1Objective(pds, schedule) if stage == "stage1" else Stage2Objective(pds, config)
            sha = load_ema_weights(holder.to(device), directory)
            return pds.eval(), config, stage, sha
    raise PdsError(f"{run_dir}: no checkpoint found; train first with `pds train`")


def load_trained_model(
    run_dir: Path, prepared_dir: Path, device: torch.device
) -> tuple[nn.Module, Config, str, str, str]:
    """Any run's sampling model with EMA weights: (model, config, stage, sha, model name).

    The model has PDS's `synthesize(batch, sampler, steps, samples, guidance, generator) -> (mean, std)`;
    the baselines ignore the sampler arguments (one deterministic pass).
    """
    name = read_model_name(run_dir)
    spec = model_spec(name)
    if spec.family == "pds":
        pds, config, stage, sha = load_trained_pds(run_dir, prepared_dir, device)
        return pds, config, stage, sha, name
    config = load_run_config(run_dir)
    directory = trained_checkpoint(Path(run_dir) / "stage1")
    if directory is None:
        raise PdsError(f"{run_dir}: no checkpoint found; train first with `pds train --model {name}`")
    holder = build_objective(spec, config, prepared_dir).to(device)
    sha = load_ema_weights(holder, directory)
    return cast(nn.Module, holder.generator).eval(), config, "stage1", sha, name
