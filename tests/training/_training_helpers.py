"""A tiny model, dataset and loss shared by the training tests and the torchrun script."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import Dataset

from pds_mri.training.sample_rng import SampleRng, randn


class TinyNet(nn.Module):
    """Two 3D convs with dropout (dropout draws from the global RNG, which resume must restore)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv3d(1, 4, 3, padding=1)
        self.drop = nn.Dropout3d(0.2)
        self.conv2 = nn.Conv3d(4, 1, 3, padding=1)
        self.register_buffer("calls", torch.zeros((), dtype=torch.int64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.conv2(self.drop(torch.relu(self.conv1(x))))


class PairDataset(Dataset):
    """Fixed random (x, y = smoothed x) pairs on a 6³ grid."""

    def __init__(self, n: int = 10, seed: int = 123) -> None:
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(n, 1, 6, 6, 6, generator=g)
        self.y = torch.nn.functional.avg_pool3d(self.x, 3, stride=1, padding=1)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"x": self.x[i], "y": self.y[i], "index": torch.tensor(i)}


def loss_fn(model: nn.Module, batch: dict[str, torch.Tensor], rng: SampleRng) -> dict[str, torch.Tensor]:
    """L1 on a noisy input: the noise comes from `rng` (one stream per sample), as the Trainer's contract asks."""
    noise = randn(batch["x"].shape, rng, batch["x"].device)
    pred = model(batch["x"] + 0.1 * noise)
    l1 = (pred - batch["y"]).abs().mean()
    return {"loss": l1, "mse": ((pred - batch["y"]) ** 2).mean().detach()}


def weights_hash(model: nn.Module) -> str:
    import hashlib

    h = hashlib.sha256()
    for k, v in sorted(model.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()
