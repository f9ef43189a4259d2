"""Efficient microstructure refinement: a 2.5D tri-planar residual module.

Three tiny 2D conv nets (one per view by default, since the model grids are anisotropic) run slice-wise
along each axis — the slice axis is folded into the batch — on [estimate, source]. Their residuals are
averaged and added to the estimate. With the default 16 channels it costs 2.8 % of the FLOPs of one
default denoiser pass (1.1 vs 40 GFLOP at 48×48×30; ``cost.count_flops``, pinned by a test), and
no pretrained (ImageNet) weights are assumed. The last conv of each view starts at zero, so an
untrained module is the identity.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

VIEW_AXES = (2, 3, 4)  # sagittal (x), coronal (y), axial (z) slices of (B, C, X, Y, Z)


def _view_net(in_ch: int, channels: int, depth: int) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(in_ch, channels, 3, padding=1), nn.SiLU()]
    for _ in range(depth - 2):
        layers += [nn.Conv2d(channels, channels, 3, padding=1), nn.SiLU()]
    last = nn.Conv2d(channels, 1, 3, padding=1)
    nn.init.zeros_(last.weight)
    assert last.bias is not None  # Conv2d(bias=True)
    nn.init.zeros_(last.bias)
    return nn.Sequential(*layers, last)


def fold_view(x: Tensor, axis: int) -> Tensor:
    """(B, C, X, Y, Z) → (B·S, C, H, W) with the ``axis`` dimension (size S) folded into the batch."""
    moved = x.movedim(axis, 1)
    b, s, c, h, w = moved.shape
    return moved.reshape(b * s, c, h, w)


def unfold_view(y: Tensor, axis: int, batch: int) -> Tensor:
    """Inverse of :func:`fold_view` for a (B·S, C', H, W) result."""
    bs, c, h, w = y.shape
    return y.reshape(batch, bs // batch, c, h, w).movedim(1, axis)


class MicrostructureRefiner(nn.Module):
    """(estimate (B,1,X,Y,Z), source (B,1,X,Y,Z)) → estimate + mean of three per-view residuals."""

    def __init__(self, channels: int = 16, depth: int = 3, shared: bool = False, in_channels: int = 2) -> None:
        super().__init__()
        if depth < 2:
            raise ValueError("depth must be >= 2")
        self.shared = shared
        n = 1 if shared else len(VIEW_AXES)
        self.views = nn.ModuleList(_view_net(in_channels, channels, depth) for _ in range(n))

    def forward(self, estimate: Tensor, source: Tensor) -> Tensor:
        x = torch.cat([estimate, source.to(estimate.dtype)], dim=1)
        residual = torch.zeros_like(estimate)
        for i, axis in enumerate(VIEW_AXES):
            net = self.views[0 if self.shared else i]
            # channels-last: oneDNN runs these narrow 2D convs ~1.7x faster than NCHW on CPU
            y = net(fold_view(x, axis).contiguous(memory_format=torch.channels_last))
            residual = residual + unfold_view(y.contiguous(), axis, x.shape[0])
        return estimate + residual / len(VIEW_AXES)
