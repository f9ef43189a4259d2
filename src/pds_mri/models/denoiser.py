"""Stage-1 denoiser: a compact conditional 3D U-Net.

Design choices (implementation details below the level of docs/method.md; recorded here):

* **One network, shared weights for both directions** (fMRI→dMRI and dMRI→fMRI). The direction is a
  learned embedding in the conditioning vector, and the pattern encoder is shared too. Sharing halves
  the parameters of the authors' two cross-fed U-Nets and lets the rare disease patterns seen in one
  direction inform the other; the two directions still run on their own grids, since the network is
  fully convolutional and pads/crops internally.
* **Concat conditioning**: input = [x_t, source resampled to the target grid] (2 channels) → 1 channel,
  so the subject's own scan drives the synthesis (the authors' stage 1 was unconditional).
* **FiLM** (scale/shift after the second GroupNorm of each residual block) from the conditioning vector.
* Downsampling by stride-2 convolutions, upsampling by stride-2 transposed convolutions that also halve
  the channels, so no convolution with the wide channels of a deep level runs at full resolution
  (the CPU cost is dominated by the full-resolution level). Self-attention only at the lowest level.
* Residual branches and the output head start at zero, so an untrained network is the identity at
  each block and predicts 0 (stable start for ε/v/x0 regression).
* Grids need not be multiples of 2^(levels−1): the input is padded (replicate) and the output cropped.
"""

from __future__ import annotations

import math
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from pds_mri.models.padding import crop_padding, pad_to_multiple


def num_groups(channels: int, max_groups: int = 8) -> int:
    """GroupNorm groups that always divide ``channels`` (tiny test networks use 4–8 channels)."""
    return math.gcd(channels, max_groups)


def zero_module(module: nn.Module) -> nn.Module:
    for p in module.parameters():
        nn.init.zeros_(p)
    return module


def parameter_count(module: nn.Module, trainable_only: bool = True) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


class ResBlock3D(nn.Module):
    """GroupNorm → SiLU → conv → GroupNorm → FiLM(emb) → SiLU → conv(zero-init), plus a skip."""

    def __init__(self, in_ch: int, out_ch: int, emb_dim: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(num_groups(in_ch), in_ch)
        self.conv1 = nn.Conv3d(in_ch, out_ch, 3, padding=1)
        self.film = nn.Linear(emb_dim, 2 * out_ch)
        self.norm2 = nn.GroupNorm(num_groups(out_ch), out_ch)
        self.conv2 = zero_module(nn.Conv3d(out_ch, out_ch, 3, padding=1))
        self.skip = nn.Identity() if in_ch == out_ch else nn.Conv3d(in_ch, out_ch, 1)

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.film(emb)[:, :, None, None, None].chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift
        h = self.conv2(F.silu(h))
        return self.skip(x) + h


class Attention3D(nn.Module):
    """Multi-head self-attention over all voxels of the (small) lowest level, residual, zero-init output."""

    def __init__(self, channels: int, heads: int = 4) -> None:
        super().__init__()
        heads = math.gcd(channels, heads)
        self.heads = heads
        self.norm = nn.GroupNorm(num_groups(channels), channels)
        self.qkv = nn.Conv3d(channels, 3 * channels, 1)
        self.proj = zero_module(nn.Conv3d(channels, channels, 1))

    def forward(self, x: Tensor) -> Tensor:
        b, c, *spatial = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, self.heads, c // self.heads, -1).unbind(1)
        out = F.scaled_dot_product_attention(q.transpose(-1, -2), k.transpose(-1, -2), v.transpose(-1, -2))
        return x + self.proj(out.transpose(-1, -2).reshape(b, c, *spatial))


class ConditionalDenoiser3D(nn.Module):
    """(x_t (B,1,X,Y,Z), source (B,1,X,Y,Z), cond (B,emb_dim)) → (B,1,X,Y,Z) ε, v or x0 prediction.

    Channels at level i are ``base_channels · min(2**i, max_channel_mult)``; ``levels`` counts
    resolutions (so the input is padded to a multiple of 2**(levels−1)).
    """

    def __init__(
        self,
        emb_dim: int,
        base_channels: int = 32,
        levels: int = 4,
        res_blocks: int = 1,
        max_channel_mult: int = 4,
        attention: bool = True,
        attention_heads: int = 4,
        in_channels: int = 2,
        out_channels: int = 1,
        gradient_checkpointing: bool = False,
    ) -> None:
        super().__init__()
        if levels < 1 or res_blocks < 1 or base_channels < 1:
            raise ValueError("levels, res_blocks and base_channels must be >= 1")
        self.levels = levels
        self.gradient_checkpointing = gradient_checkpointing
        ch = [base_channels * min(2**i, max_channel_mult) for i in range(levels)]
        self.channels = ch
        self.stem = nn.Conv3d(in_channels, ch[0], 3, padding=1)
        self.down_blocks = nn.ModuleList(
            nn.ModuleList(ResBlock3D(ch[i], ch[i], emb_dim) for _ in range(res_blocks)) for i in range(levels)
        )
        self.downsamplers = nn.ModuleList(
            nn.Conv3d(ch[i], ch[i + 1], 3, stride=2, padding=1) for i in range(levels - 1)
        )
        self.mid1 = ResBlock3D(ch[-1], ch[-1], emb_dim)
        self.attn = Attention3D(ch[-1], attention_heads) if attention else None
        self.mid2 = ResBlock3D(ch[-1], ch[-1], emb_dim)
        self.up_blocks = nn.ModuleList(
            nn.ModuleList(ResBlock3D(2 * ch[i] if j == 0 else ch[i], ch[i], emb_dim) for j in range(res_blocks))
            for i in range(levels)
        )
        self.upsamplers = nn.ModuleList(nn.ConvTranspose3d(ch[i + 1], ch[i], 2, stride=2) for i in range(levels - 1))
        self.head = nn.Sequential(
            nn.GroupNorm(num_groups(ch[0]), ch[0]),
            nn.SiLU(),
            zero_module(nn.Conv3d(ch[0], out_channels, 3, padding=1)),
        )

    @property
    def multiple(self) -> int:
        return 2 ** (self.levels - 1)

    def num_parameters(self) -> int:
        return parameter_count(self)

    def _run(self, block: nn.Module, *args: Tensor) -> Tensor:
        if self.gradient_checkpointing and self.training and torch.is_grad_enabled():
            return checkpoint(block, *args, use_reentrant=False)
        return block(*args)

    def forward(self, x_t: Tensor, source: Tensor, cond: Tensor) -> Tensor:
        if x_t.shape[0] != source.shape[0] or x_t.shape[2:] != source.shape[2:]:
            raise ValueError(f"x_t {tuple(x_t.shape)} and source {tuple(source.shape)} must match")
        x, pad = pad_to_multiple(torch.cat([x_t, source], dim=1), self.multiple)
        emb = F.silu(cond)
        h = self.stem(x)
        skips: list[Tensor] = []
        for i in range(self.levels):
            for block in cast(nn.ModuleList, self.down_blocks[i]):
                h = self._run(block, h, emb)
            skips.append(h)
            if i < self.levels - 1:
                h = self.downsamplers[i](h)
        h = self._run(self.mid1, h, emb)
        if self.attn is not None:
            h = self._run(self.attn, h)
        h = self._run(self.mid2, h, emb)
        for i in reversed(range(self.levels)):
            if i < self.levels - 1:
                h = self.upsamplers[i](h)
            h = torch.cat([h, skips[i]], dim=1)
            for block in cast(nn.ModuleList, self.up_blocks[i]):
                h = self._run(block, h, emb)
        return crop_padding(self.head(h), pad)
