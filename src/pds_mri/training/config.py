"""A training stage's settings: pydantic only, so that reading a config never imports torch."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pds_mri.errors import PdsError


class TrainerConfig(BaseModel):
    """Optimisation and bookkeeping settings; `batch_size` is per process (global = batch_size × world)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    steps: int = Field(1000, ge=1, description="optimiser steps in the whole run")
    batch_size: int = Field(1, ge=1, description="items per process per step")
    lr: float = Field(2e-4, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    betas: tuple[float, float] = (0.9, 0.999)
    warmup_steps: int = Field(100, ge=0)
    min_lr_ratio: float = Field(0.0, ge=0, le=1, description="cosine floor as a fraction of lr")
    grad_clip: float = Field(1.0, ge=0, description="max global grad norm; 0 disables clipping")
    ema_decay: float = Field(0.999, ge=0, le=1)
    ema_warmup: bool = True
    checkpoint_every: int = Field(500, ge=0, description="0: only at the end")
    keep_checkpoints: int = Field(3, ge=0, description="step-* checkpoints kept; 0 keeps all")
    validate_every: int = Field(500, ge=0, description="0: only at the end")
    log_every: int = Field(10, ge=1)
    seed: int = Field(0, ge=0, le=2**32 - 1)
    bf16: bool = Field(True, description="bf16 autocast; applies on CUDA only")
    grad_checkpointing: bool = Field(False, description="passed to model.set_grad_checkpointing if present")
    max_bad_steps: int = Field(5, ge=1, description="consecutive non-finite steps before stopping")
    best_metric: str = "psnr"
    best_mode: Literal["max", "min"] = "max"
    tensorboard: bool = True
    progress: bool = True
    num_workers: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _warmup_within_run(self) -> TrainerConfig:
        if not all(0.0 <= b < 1.0 for b in self.betas):
            raise ValueError(f"betas must be in [0, 1), got {list(self.betas)}")
        if self.warmup_steps > self.steps:
            raise ValueError(f"warmup_steps ({self.warmup_steps}) must be <= steps ({self.steps})")
        return self


def trainer_config(values: Mapping[str, Any]) -> TrainerConfig:
    """Validate a mapping; the error names the bad field (for the CLI's one-line message)."""
    try:
        return TrainerConfig.model_validate(dict(values))
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "trainer"
        raise PdsError(f"invalid trainer config field '{field}': {err['msg']}") from None
