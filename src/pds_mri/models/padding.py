"""Pad a volume to a multiple of the U-Net's total stride and crop the result back.

Model grids are config (fMRI 64×64×36, dMRI 96×96×60 in the paper preset), and 36 or 30 slices are not
multiples of 8, so every U-Net here pads on entry and crops on exit instead of constraining the grid.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

Pad = tuple[int, ...]


def pad_to_multiple(x: Tensor, multiple: int, mode: str = "replicate") -> tuple[Tensor, Pad]:
    """Pad the trailing 3 (spatial) dims of (B, C, X, Y, Z) up to ``multiple``, split evenly per side.

    Returns the padded tensor and the F.pad tuple needed by :func:`crop_padding`. Replicate padding keeps
    border statistics (background is −1, noise stays noise-like) instead of inventing a zero edge.
    """
    if multiple < 1:
        raise ValueError(f"multiple must be >= 1, got {multiple}")
    pad: list[int] = []
    for size in reversed(x.shape[2:]):  # F.pad wants the last dim first
        extra = (-size) % multiple
        pad += [extra // 2, extra - extra // 2]
    if not any(pad):
        return x, tuple(pad)
    return F.pad(x, pad, mode=mode), tuple(pad)


def crop_padding(x: Tensor, pad: Pad) -> Tensor:
    """Undo :func:`pad_to_multiple` on a tensor with the same spatial layout."""
    if not any(pad):
        return x
    slices = [slice(None)] * x.ndim
    for i in range(len(pad) // 2):
        dim = x.ndim - 1 - i
        lo, hi = pad[2 * i], pad[2 * i + 1]
        slices[dim] = slice(lo, x.shape[dim] - hi)
    return x[tuple(slices)]
