"""A tiny Trainer run for the kill/resume and numerical-fault tests; also runnable as a script.

    python _toy_train.py RUN_DIR [--resume] [--kill-on-replace N] [--kill-after] [--signal-in-step N [--signal S]]

`--kill-on-replace N` SIGKILLs this process at the N-th os.replace the checkpoint module makes (before
it, or just after it with --kill-after): a kill in the middle of a checkpoint write, deterministically.
`--signal-in-step N` sends this process SIGTERM (or --signal USR1) in the middle of step N (1-based), as a
SLURM time limit would; it then exits with the StoppedBySignal status, 75, and one line on stderr.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn
from torch.utils.data import Dataset

if TYPE_CHECKING:
    from pds_mri.training.sample_rng import SampleRng

STEPS = 12


class ToyNet(nn.Module):
    """Conv + dropout (dropout draws from the global RNG, which resume must restore)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv3d(1, 4, 3, padding=1)
        self.drop = nn.Dropout3d(0.2)
        self.conv2 = nn.Conv3d(4, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.drop(torch.relu(self.conv1(x))))


class ToyData(Dataset):
    """Fixed (x, y) pairs on a 5³ grid; items listed in `bad` carry a NaN voxel (a corrupt subject)."""

    def __init__(self, n: int = 8, bad: frozenset[int] = frozenset()) -> None:
        g = torch.Generator().manual_seed(11)
        self.x = torch.randn(n, 1, 5, 5, 5, generator=g)
        self.y = torch.nn.functional.avg_pool3d(self.x, 3, stride=1, padding=1)
        self.bad = bad

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        x = self.x[i].clone()
        if i in self.bad:
            x[0, 0, 0, 0] = float("nan")
        return {"x": x, "y": self.y[i]}


def loss_fn(model: nn.Module, batch: dict[str, torch.Tensor], generator: SampleRng) -> dict[str, torch.Tensor]:
    noise = generator.randn(batch["x"].shape)
    pred = model(batch["x"] + 0.1 * noise)
    return {"loss": (pred - batch["y"]).abs().mean()}


def trainer_cfg(**overrides):  # type: ignore[no-untyped-def]
    from pds_mri.training.config import TrainerConfig

    values = {
        "steps": STEPS,
        "batch_size": 2,
        "lr": 1e-2,
        "warmup_steps": 2,
        "ema_decay": 0.9,
        "checkpoint_every": 1,
        "keep_checkpoints": 2,
        "validate_every": 0,
        "log_every": 1,
        "tensorboard": False,
        "progress": False,
        "seed": 5,
    }
    values.update(overrides)
    return TrainerConfig(**values)


def make_trainer(run_dir: Path, cfg=None, data: Dataset | None = None, loss=loss_fn):  # type: ignore[no-untyped-def]
    from pds_mri.training.trainer import Trainer, seed_everything

    seed_everything(1)
    return Trainer(ToyNet(), loss, data or ToyData(), run_dir, cfg or trainer_cfg())


def signalling_loss(step: int, signum: int):  # type: ignore[no-untyped-def]
    """loss_fn that signals this process during its `step`-th call (1-based), before the forward pass."""
    calls = [0]

    def loss(model: nn.Module, batch: dict[str, torch.Tensor], generator: SampleRng) -> dict[str, torch.Tensor]:
        calls[0] += 1
        if calls[0] == step:
            os.kill(os.getpid(), signum)
        return loss_fn(model, batch, generator)

    return loss


class _KillingOs:
    """Stands in for `os` inside the checkpoint module: SIGKILLs the process at the N-th os.replace."""

    def __init__(self, n: int, after: bool) -> None:
        self.n, self.after, self.calls = n, after, 0

    def replace(self, src, dst):  # type: ignore[no-untyped-def]
        self.calls += 1
        if self.calls == self.n and not self.after:
            os.kill(os.getpid(), signal.SIGKILL)
        os.replace(src, dst)
        if self.calls == self.n and self.after:
            os.kill(os.getpid(), signal.SIGKILL)

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(os, name)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--kill-on-replace", type=int, default=0)
    parser.add_argument("--kill-after", action="store_true")
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--checkpoint-every", type=int, default=1)
    parser.add_argument("--signal-in-step", type=int, default=0)
    parser.add_argument("--signal", choices=["TERM", "USR1"], default="TERM")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.kill_on_replace:
        from pds_mri.training import checkpoint

        checkpoint.os = _KillingOs(args.kill_on_replace, args.kill_after)  # type: ignore[assignment]
    from pds_mri.errors import StoppedBySignal

    cfg = trainer_cfg(steps=args.steps, checkpoint_every=args.checkpoint_every)
    signum = getattr(signal, f"SIG{args.signal}")
    loss = signalling_loss(args.signal_in_step, signum) if args.signal_in_step else loss_fn
    try:
        make_trainer(args.run_dir, cfg, loss=loss).train(resume=args.resume)
    except StoppedBySignal as exc:
        print(f"pds: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
