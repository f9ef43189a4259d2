"""A training run directory: its config, model name, normalisation, split and trained model.

Shared by `pds train` (writes it) and `pds synthesize` (reads it), so both agree on one layout:
RUN_DIR/config.yaml, model.json, split.json, normalisation.json, stage1/, stage2/ (checkpoints + logs),
MODEL_CARD.md. `model.json` names the model (`pds_mri.workflows.models`); a run without it is a `pds` run.
What a model trains and how it synthesises is its family's (`pds_mri.families`).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from pds_mri.config import Config, load_own_config
from pds_mri.errors import InputError, PdsError
from pds_mri.families.base import Synthesizer
from pds_mri.io.json_files import field, read_json
from pds_mri.io.layout import PREPARED_CONFIG, key_of
from pds_mri.io.run_layout import STAGES, RunDir
from pds_mri.workflows.models import ModelSpec, model_spec, model_specs

MODEL_FILE = RunDir.MODEL


def apply_overrides(values: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge ``overrides`` into a copy of ``values`` (config dicts)."""
    out = dict(values)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = apply_overrides(out[key], value)
        else:
            out[key] = value
    return out


def write_model_file(run_dir: Path, spec: ModelSpec, config: Config) -> None:
    from pds_mri.families import family
    from pds_mri.io.atomic import write_json

    info: dict[str, Any] = {"model": spec.name, "family": spec.family, "description": spec.description}
    info["overrides"] = spec.overrides
    info |= family(spec.family).model_info(config)
    write_json(RunDir(run_dir).model, info)


NORMALISATION_FILE = RunDir.NORMALISATION


def read_run_normalisation(run_dir: Path) -> dict[str, dict[str, Any]]:
    """Per modality, the training cohort's median normalisation (`pds train` writes it), checked field by field:
    a synthesis of a subject without the target puts its map back into input units with these numbers."""
    from pds_mri.preprocess.normalise import Normalisation

    path = RunDir(run_dir).normalisation
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


def cohort_normalisation(prepared_dir: Path, participant_ids: list[str]) -> dict:
    """Median normalisation parameters of the training subjects, per modality.

    A subject that lacks a modality has no parameters of its own for it; its synthesis is put back into
    input units with the training cohort's median ones (recorded in each output's sidecar).
    """
    from pds_mri.preprocess.normalise import read_sidecar_normalisation
    from pds_mri.training.data import read_cohort

    wanted = set(participant_ids)
    out: dict[str, dict] = {}
    for modality in ("fmri", "dmri"):
        lows, highs, kind, percentiles = [], [], None, None
        for row in read_cohort(prepared_dir):
            rel = row.get(modality)
            if key_of(row) in wanted and rel:  # split.json lists rows: sub-X, or sub-X_ses-Y
                norm, kind = read_sidecar_normalisation(Path(prepared_dir) / rel.replace(".nii.gz", ".json"))
                lows.append(norm.low)
                highs.append(norm.high)
                percentiles = list(norm.percentiles)
        out[modality] = {
            "map": kind,
            "low": statistics.median(lows),
            "high": statistics.median(highs),
            "percentiles": percentiles,
            "subjects": len(lows),
        }
    return out


def read_model_name(run_dir: Path) -> str:
    """The model a run directory holds (`pds` for runs written before model.json existed)."""
    path = RunDir(run_dir).model
    if not path.is_file():
        return "pds"
    name = field(read_json(path, "model.json", 'expected {"model": NAME}'), "model", str, path)
    if name not in model_specs():
        raise InputError(path, f"unknown model '{name}'")
    return str(name)


def trained_parameters(run_dir: Path, prepared_dir: Path) -> dict[str, int]:
    """Parameters each part of a run's model trains (refiners and the pix2pix discriminator included)."""
    from pds_mri.families import family

    spec = model_spec(read_model_name(run_dir))
    return family(spec.family).parameter_counts(load_run_config(run_dir), prepared_dir)


def last_trainer_states(run_dir: Path, stages: tuple[str, ...] = STAGES) -> dict[str, dict[str, Any]]:
    """The trainer state of each trained stage's last checkpoint (kept across resumes), by stage."""
    from pds_mri.training.checkpoint import checkpoint_dir

    out: dict[str, dict[str, Any]] = {}
    for stage in stages:
        state = checkpoint_dir(RunDir(run_dir).stage(stage), "last") / "state.json"
        if state.is_file():
            out[stage] = field(read_json(state, "checkpoint state"), "trainer", dict, state)
    return out


def optimiser_steps(run_dir: Path) -> dict[str, int]:
    """Optimiser steps per training stage, from the stages' last checkpoints (batch size 1 per direction)."""
    return {stage: int(t["step"]) for stage, t in last_trainer_states(run_dir).items()}


def check_run_fits_input(run_dir: Path, run_config: Config, prepared_dir: Path) -> None:
    """A run synthesises only from maps made as the ones it was trained on: the same model grids, the same map
    kinds and the settings that change their values. Anything else would run, and be wrong."""
    from pds_mri.preprocess.maps import DMRI_MAPS, FMRI_MAPS

    path = Path(prepared_dir) / PREPARED_CONFIG
    if not path.is_file():
        raise InputError(prepared_dir, "not a prepared directory (config.yaml missing); run `pds prepare`")
    prepared = load_own_config(path, "pds prepare")
    trained, given = run_config.maps, prepared.maps
    fields = ["fmri_map", "dmri_map", "norm_percentiles"]
    fields += FMRI_MAPS.get(trained.fmri_map).settings + DMRI_MAPS.get(trained.dmri_map).settings
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
    path = RunDir(run_dir).config
    if not path.is_file():
        raise InputError(run_dir, "not a training run (config.yaml missing)")
    return load_own_config(path, "pds train")


@dataclass(frozen=True)
class LoadedRun:
    """A run's model ready to synthesise: its synthesizer (which owns its sampling), config, weights' stage and
    checkpoint hash, and model name."""

    synthesizer: Synthesizer
    config: Config
    stage: str
    sha256: str
    model: str


def load_trained_model(run_dir: Path, prepared_dir: Path, device: torch.device) -> LoadedRun:
    """Any run's model with the EMA weights of its last trained stage."""
    from pds_mri.families import family
    from pds_mri.training.weights import trained_checkpoint

    config = load_run_config(run_dir)
    name = read_model_name(run_dir)
    spec = model_spec(name)
    if all(trained_checkpoint(RunDir(run_dir).stage(stage)) is None for stage in STAGES):
        hint = "" if name == "pds" else f" --model {name}"
        raise PdsError(f"{run_dir}: no checkpoint found; train first with `pds train{hint}`")
    trained = family(spec.family).load(Path(run_dir), config, Path(prepared_dir), device)
    return LoadedRun(trained.synthesizer, config, trained.stage, trained.sha256, name)
