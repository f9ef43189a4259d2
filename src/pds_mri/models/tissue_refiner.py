"""Stage-2 tissue refinement: [source, stage-1 estimate, GM, WM, CSF] → refined target.

A small MONAI ``UNet`` predicts a residual on top of the stage-1 estimate. Its 1×1×1 output head starts
at zero, so an untrained refiner returns the stage-1 estimate unchanged (switching stage 2 on can only
start from stage 1's quality). MONAI's UNet needs sizes divisible by its total stride, so the input is
padded and the output cropped (``padding.py``).
"""

from __future__ import annotations

import torch
from monai.networks.nets import UNet
from torch import Tensor, nn

from pds_mri.models.padding import crop_padding, pad_to_multiple


class TissueRefiner(nn.Module):
    """Residual tissue-aware refiner; ``channels`` is the width of its first level (doubling per level)."""

    def __init__(self, channels: int = 16, levels: int = 3, num_res_units: int = 1) -> None:
        super().__init__()
        if levels < 2:
            raise ValueError("TissueRefiner needs levels >= 2")
        self.multiple = 2 ** (levels - 1)
        self.unet = UNet(
            spatial_dims=3,
            in_channels=5,
            out_channels=channels,
            channels=tuple(channels * 2**i for i in range(levels)),
            strides=(2,) * (levels - 1),
            num_res_units=num_res_units,
            act="PRELU",
            norm="INSTANCE",
        )
        self.head = nn.Conv3d(channels, 1, 1)
        nn.init.zeros_(self.head.weight)
        assert self.head.bias is not None  # Conv3d(bias=True)
        nn.init.zeros_(self.head.bias)

    def forward(self, source: Tensor, stage1: Tensor, tissue: Tensor) -> Tensor:
        if tissue.shape[1] != 3:
            raise ValueError(f"tissue must have 3 channels (GM, WM, CSF), got {tissue.shape[1]}")
        x, pad = pad_to_multiple(torch.cat([source, stage1, tissue.to(source.dtype)], dim=1), self.multiple)
        return stage1 + crop_padding(self.head(self.unet(x)), pad)
