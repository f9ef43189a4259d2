"""Linear warm-up then cosine decay, as a LambdaLR whose state is plain numbers (JSON in checkpoints).

Why warm-up: AdamW's second-moment estimates are poor for the first steps, and a full learning rate
then can throw a freshly initialised U-Net into a bad region. Why cosine: a smooth decay to a floor
needs no tuning of milestones and is what diffusion training commonly uses.
"""

from __future__ import annotations

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

from pds_mri.errors import PdsError


class WarmupCosine:
    """Multiplier of the base LR at step s (0-based): (s+1)/W during warm-up, then cosine to min_ratio.

    A class, not a closure: LambdaLR saves a callable object's attributes in its state dict, so the
    schedule itself is recorded (and restored) with the checkpoint.
    """

    def __init__(self, warmup_steps: int, total_steps: int, min_ratio: float = 0.0) -> None:
        if total_steps < 1:
            raise PdsError(f"total_steps must be >= 1, got {total_steps}")
        if not 0 <= warmup_steps <= total_steps:
            raise PdsError(f"warmup_steps must be in 0..{total_steps}, got {warmup_steps}")
        if not 0.0 <= min_ratio <= 1.0:
            raise PdsError(f"min_ratio must be in [0, 1], got {min_ratio}")
        self.warmup_steps = warmup_steps
        self.total_steps = total_steps
        self.min_ratio = min_ratio

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        decay_steps = max(1, self.total_steps - self.warmup_steps)
        progress = min(1.0, (step - self.warmup_steps) / decay_steps)
        return self.min_ratio + (1.0 - self.min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def warmup_cosine(optimizer: Optimizer, warmup_steps: int, total_steps: int, min_ratio: float = 0.0) -> LambdaLR:
    """LambdaLR with WarmupCosine for every param group; call `.step()` once per optimiser step."""
    return LambdaLR(optimizer, WarmupCosine(warmup_steps, total_steps, min_ratio))
