"""The tiny configuration shared by the end-to-end tests: real code paths on 12×12×8 / 16×16×10 grids,
4-channel networks and a few optimiser steps, so that training and synthesis take seconds."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

GRIDS = {
    "fmri": {"shape": [12, 12, 8], "voxel_mm": [14.0, 16.0, 18.0]},
    "dmri": {"shape": [16, 16, 10], "voxel_mm": [10.0, 12.0, 14.0]},
}
MODEL = {
    "base_channels": 4,
    "levels": 2,
    "attention": False,
    "pattern_hidden": 16,
    "tissue_channels": 4,
    "tissue_levels": 2,
    "micro_channels": 4,
    "diffusion": {"steps": 2, "stage2_steps": 1},
}


def tiny_config(stage1_steps: int = 4, stage2_steps: int = 2, **trainer: Any) -> dict[str, Any]:
    """The config as a dict; `trainer` overrides fields of both stages (e.g. checkpoint_every=1)."""

    def stage(steps: int) -> dict[str, Any]:
        return {"steps": steps, "warmup_steps": 1, "validate_every": steps, "checkpoint_every": steps,
                "progress": False, **trainer}  # fmt: skip

    return {
        "grids": copy.deepcopy(GRIDS),
        "model": copy.deepcopy(MODEL),
        "training": {"stage1": stage(stage1_steps), "stage2": stage(stage2_steps), "max_val_subjects": 1},
    }


def write_tiny_config(path: Path, **kwargs: Any) -> Path:
    path.write_text(yaml.safe_dump(tiny_config(**kwargs)))
    return path
