"""A trained stage's weights: which checkpoint they come from, and putting its EMA weights into a module."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from pds_mri.errors import InputError, PdsError
from pds_mri.training.checkpoint import checkpoint_dir, checkpoint_exists, load_checkpoint
from pds_mri.training.ema import EMA


def trained_checkpoint(stage_dir: Path) -> Path | None:
    """The checkpoint a stage's weights are taken from: `best` by validation, else `last`; None if untrained."""
    for name in ("best", "last"):
        directory = checkpoint_dir(stage_dir, name)
        if checkpoint_exists(directory):
            return directory
    return None


def load_ema_weights(holder: nn.Module, directory: Path) -> str:
    """Put a checkpoint's EMA weights (the ones used for sampling) into `holder`; return the checkpoint hash."""
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
