"""The tool's shared vocabulary: every value a direction, diagnosis, preset or option choice can take.

Light on purpose (no torch, no numpy): the command line checks choices at parse time from these `Literal`s,
and every layer spells them the same way. Each tuple is derived from its type, so the two cannot drift.
Open sets, which grow by adding a file, are registries instead (`pds_mri.registry`): the maps
(`preprocess/maps/`), the samplers (`diffusion/samplers/`) and the classifiers (`evaluation/classifiers/`).
"""

from __future__ import annotations

from typing import Literal, get_args

Direction = Literal["fmri2dmri", "dmri2fmri"]
DirectionChoice = Literal["auto", "fmri2dmri", "dmri2fmri"]  # `pds synthesize --direction`: auto = what is missing
Diagnosis = Literal["NC", "MCI", "AD"]
Modality = Literal["fmri", "dmri"]
PresetName = Literal["cpu", "paper"]
Registration = Literal["auto", "none", "affine", "syn"]
SynthesisMode = Literal["mean", "sample"]
TrainStage = Literal["all", "1", "2"]
Device = Literal["auto", "cpu", "cuda", "mps"]  # auto: CUDA when available, else CPU
Spacing = Literal["trailing", "leading"]  # where a sampler's timestep grid sits (diffusion/samplers/base.py)

#: The value outside the brain mask in every model-grid map (the maps are normalised to [-1, 1]).
BACKGROUND = -1.0

DIRECTIONS: tuple[Direction, ...] = get_args(Direction)
DIRECTION_CHOICES: tuple[DirectionChoice, ...] = get_args(DirectionChoice)
DIAGNOSES: tuple[Diagnosis, ...] = get_args(Diagnosis)
MODALITIES: tuple[Modality, ...] = get_args(Modality)
PRESETS: tuple[PresetName, ...] = get_args(PresetName)
REGISTRATIONS: tuple[Registration, ...] = get_args(Registration)
SYNTHESIS_MODES: tuple[SynthesisMode, ...] = get_args(SynthesisMode)
TRAIN_STAGES: tuple[TrainStage, ...] = get_args(TrainStage)
DEVICES: tuple[Device, ...] = get_args(Device)
