"""3D PatchGAN discriminator (pix2pix's, Isola et al. 2017) from MONAI convolution blocks.

Conditional: it sees [source, image] (2 channels) and scores overlapping patches (one logit per output
voxel). ``layers`` stride-2 blocks (4³ kernels) then a 3³ head; the input is padded to a multiple of
2**layers so any grid works. Instance norm (no running statistics: nothing to average in the EMA).
"""

from __future__ import annotations

import torch
from monai.networks.blocks import Convolution
from torch import Tensor, nn

from pds_mri.models.padding import pad_to_multiple

LEAKY = ("LEAKYRELU", {"negative_slope": 0.2})


class PatchDiscriminator3D(nn.Module):
    def __init__(self, channels: int = 8, layers: int = 3, max_mult: int = 8, in_channels: int = 2) -> None:
        super().__init__()
        if layers < 1 or channels < 1:
            raise ValueError("layers and channels must be >= 1")
        self.layers = layers
        blocks: list[nn.Module] = []
        ch_in = in_channels
        for i in range(layers):
            ch_out = channels * min(2**i, max_mult)
            blocks.append(
                Convolution(
                    3,
                    ch_in,
                    ch_out,
                    strides=2,
                    kernel_size=4,
                    padding=1,
                    act=LEAKY,
                    norm=None if i == 0 else "INSTANCE",
                )
            )
            ch_in = ch_out
        self.body = nn.Sequential(*blocks)
        self.head = nn.Conv3d(ch_in, 1, 3, padding=1)

    def forward(self, source: Tensor, image: Tensor) -> Tensor:
        x, _ = pad_to_multiple(torch.cat([source, image], dim=1), 2**self.layers)
        return self.head(self.body(x))
