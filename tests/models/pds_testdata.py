"""Tiny synthetic subjects on two grids (one per direction), a tiny PDS config and PSNR (test helpers)."""

from __future__ import annotations

import math

import torch

from pds_mri.models.config import PDSConfig

ROI_NETWORK = [i % 6 for i in range(160)]
GRIDS = {0: (12, 12, 8), 1: (16, 16, 10)}  # direction -> target grid (fmri2dmri, dmri2fmri)


def tiny_config(**overrides: object) -> PDSConfig:
    base: dict[str, object] = {
        "base_channels": 8,
        "levels": 3,
        "embed_dim": 32,
        "pattern_hidden": 32,
        "tissue_channels": 4,
        "micro_channels": 6,
    }
    base.update(overrides)
    return PDSConfig(**base)


def true_target(source: torch.Tensor, direction: int) -> torch.Tensor:
    """Known nonlinear, direction-specific source → target relation (far from the identity)."""
    if direction == 0:
        return torch.sin(2.5 * source + 0.5) * 0.9
    return 0.8 - 1.6 * source**2


def make_batch(shape: tuple[int, int, int], direction: int, batch: int = 2, seed: int = 0) -> dict[str, torch.Tensor]:
    """Smooth random 'brains': an ellipsoid mask, a sum of Gaussian blobs, spherical ROIs, soft tissues."""
    g = torch.Generator().manual_seed(seed)
    axes = [torch.linspace(-1, 1, n) for n in shape]
    xx, yy, zz = torch.meshgrid(*axes, indexing="ij")
    mask = ((xx / 0.9) ** 2 + (yy / 0.9) ** 2 + (zz / 0.95) ** 2 <= 1).float()
    sources, patterns = [], []
    for _ in range(batch):
        vol = torch.zeros(shape)
        for _ in range(4):
            c = torch.rand(3, generator=g) * 1.2 - 0.6
            w = 0.3 + 0.4 * torch.rand(1, generator=g).item()
            amp = torch.rand(1, generator=g).item() * 2 - 1
            vol += amp * torch.exp(-((xx - c[0]) ** 2 + (yy - c[1]) ** 2 + (zz - c[2]) ** 2) / (2 * w**2))
        vol = torch.tanh(1.5 * vol)
        sources.append(torch.where(mask > 0, vol, torch.full_like(vol, -1.0)))
        pattern = torch.zeros(shape, dtype=torch.long)
        for label in range(1, 9):
            c = torch.rand(3, generator=g) * 1.2 - 0.6
            pattern[((xx - c[0]) ** 2 + (yy - c[1]) ** 2 + (zz - c[2]) ** 2 <= 0.3**2) & (mask > 0)] = label
        patterns.append(pattern)
    source = torch.stack(sources)[:, None]
    target = torch.where(mask > 0, true_target(source, direction), torch.full_like(source, -1.0))
    centres = torch.tensor([0.5, 0.0, -0.5]).reshape(1, 3, 1, 1, 1)
    tissue = torch.softmax(-((source - centres) ** 2) / 0.1, dim=1) * mask
    return {
        "source": source,
        "target": target,
        "mask": mask.expand(batch, 1, *shape).clone(),
        "tissue": tissue,
        "pattern": torch.stack(patterns),
        "direction": torch.full((batch,), direction, dtype=torch.long),
        "diagnosis": torch.tensor([0, 2, 1, -1][:batch] + [-1] * max(0, batch - 4), dtype=torch.long),
    }


def psnr(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> float:
    """PSNR inside the mask on [0, 1]-scaled intensities, data range 1 (docs/evaluation.md)."""
    inside = mask > 0
    mse = (((pred - target) / 2)[inside] ** 2).mean().item()
    return 10 * math.log10(1.0 / max(mse, 1e-12))
