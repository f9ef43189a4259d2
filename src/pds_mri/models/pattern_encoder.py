"""Pattern embedding: the source map's regional statistics in the Dosenbach-160 ROIs and networks.

This is PDS's "pattern awareness" made conditional: rather than only up-weighting ROI voxels in the loss
(the authors' code), the denoiser is told how the *subject's own* source map looks inside each ROI and
each functional network, which is where disease patterns live.

Features (all computed only from voxels with ``pattern > 0``, so the embedding is exactly invariant to
anything outside the ROIs):

* per-ROI mean of the source (R values; an ROI absent from the grid contributes 0),
* per-network mean and standard deviation over the voxels of that network's ROIs (2·N values),

followed by an MLP to a D-dimensional embedding.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
from torch import Tensor, nn


class PatternEncoder(nn.Module):
    """(source (B,1,X,Y,Z), pattern (B,X,Y,Z) long in 0..R) → (B, embed_dim).

    ``roi_network[r-1]`` is the network (0..N−1) of ROI label r; the model never loads atlases itself.
    """

    label_to_network: Tensor  # buffer, registered in __init__

    def __init__(
        self,
        roi_network: Sequence[int],
        embed_dim: int,
        hidden_dim: int = 128,
        num_networks: int | None = None,
    ) -> None:
        super().__init__()
        net = torch.as_tensor(list(roi_network), dtype=torch.long)
        if net.ndim != 1 or net.numel() == 0:
            raise ValueError("roi_network must be a non-empty sequence of network indices")
        if (net < 0).any():
            raise ValueError("roi_network entries must be >= 0")
        self.num_rois = int(net.numel())
        self.num_networks = int(num_networks if num_networks is not None else net.max().item() + 1)
        if net.max().item() >= self.num_networks:
            raise ValueError(f"roi_network has index {net.max().item()} >= num_networks={self.num_networks}")
        # label -> network lookup with a slot for background (label 0 -> dummy network N, dropped later);
        # persistent, so a checkpoint carries the ROI -> network assignment it was trained with
        self.register_buffer("label_to_network", torch.cat([torch.tensor([self.num_networks]), net]))
        self.feature_dim = self.num_rois + 2 * self.num_networks
        self.mlp = nn.Sequential(
            nn.Linear(self.feature_dim, hidden_dim),
            nn.SiLU(),
            nn.Linear(hidden_dim, embed_dim),
        )

    @staticmethod
    def _group_stats(values: Tensor, labels: Tensor, groups: int) -> tuple[Tensor, Tensor, Tensor]:
        """Per-group (mean, std, count) of ``values`` (B, V) under integer ``labels`` (B, V) in 0..groups-1."""
        zeros = values.new_zeros(values.shape[0], groups)
        count = zeros.scatter_add(1, labels, torch.ones_like(values))
        total = zeros.scatter_add(1, labels, values)
        mean = total / count.clamp(min=1)
        centred = values - mean.gather(1, labels)
        var = zeros.scatter_add(1, labels, centred * centred) / count.clamp(min=1)
        return mean, var.clamp(min=0).sqrt(), count

    def features(self, source: Tensor, pattern: Tensor) -> Tensor:
        """Raw regional statistics (B, R + 2N), before the MLP (useful for inspection and tests)."""
        if source.ndim != 5 or source.shape[1] != 1:
            raise ValueError(f"source must be (B,1,X,Y,Z), got {tuple(source.shape)}")
        if pattern.shape != source.shape[:1] + source.shape[2:]:
            raise ValueError(f"pattern must be (B,X,Y,Z) = {tuple(source.shape[:1] + source.shape[2:])}")
        labels = pattern.reshape(pattern.shape[0], -1).long()
        if labels.numel() and (labels.min() < 0 or labels.max() > self.num_rois):
            raise ValueError(f"pattern labels must lie in 0..{self.num_rois}")
        values = source.reshape(source.shape[0], -1).float()
        roi_mean, _, _ = self._group_stats(values, labels, self.num_rois + 1)
        networks = self.label_to_network[labels]
        net_mean, net_std, _ = self._group_stats(values, networks, self.num_networks + 1)
        return torch.cat([roi_mean[:, 1:], net_mean[:, : self.num_networks], net_std[:, : self.num_networks]], dim=1)

    def forward(self, source: Tensor, pattern: Tensor) -> Tensor:
        feats = self.features(source, pattern).to(cast(nn.Linear, self.mlp[0]).weight.dtype)
        return self.mlp(feats)
