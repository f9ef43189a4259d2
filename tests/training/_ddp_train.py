"""Run by test_training_distributed.py under `torchrun --nproc_per_node=2`: DDP with gloo on CPU.

Each rank starts from a different random init (DDP must broadcast rank 0's), rank 1 sees a NaN loss
once (both ranks must skip that step together), and a run stopped at step 3 and resumed must end
where the uninterrupted run does. Each rank writes the hashes of its final weights.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.distributed as dist

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _training_helpers import PairDataset, TinyNet, loss_fn, weights_hash

from pds_mri.io.atomic import write_json
from pds_mri.training.config import TrainerConfig
from pds_mri.training.distributed import cleanup, init_distributed
from pds_mri.training.ema import unwrap
from pds_mri.training.trainer import Trainer


def main(out: Path) -> None:
    info = init_distributed(device="cpu")
    cfg = TrainerConfig(
        steps=6,
        batch_size=2,
        lr=5e-3,
        warmup_steps=2,
        checkpoint_every=3,
        validate_every=3,
        log_every=1,
        ema_decay=0.9,
        tensorboard=False,
        progress=False,
    )

    def flaky(model: torch.nn.Module, batch: dict, gen: torch.Generator) -> dict[str, torch.Tensor]:
        out = loss_fn(model, batch, gen)
        if dist.get_rank() == 1 and int(unwrap(model).calls) == 3:  # the 3rd forward on rank 1
            out["loss"] = out["loss"] * float("nan")
        return out

    def validate(model: torch.nn.Module, step: int) -> float:
        ds = PairDataset(2)
        return -float(((model(ds.x) - ds.y) ** 2).mean())

    def make(run_dir: Path, init_seed: int) -> Trainer:
        torch.manual_seed(init_seed + 100 * info.rank)
        return Trainer(TinyNet(), flaky, PairDataset(10), run_dir, cfg, validate, info)

    full = make(out / "full", 0)
    res = full.train()
    part = make(out / "part", 0)
    part.train(stop_at=3)
    resumed = make(out / "part", 7)
    resumed.train(resume=True)
    ema_hash = weights_hash(_loaded(full))
    write_json(
        out / f"rank{info.rank}.json",
        {
            "rank": info.rank,
            "world": info.world_size,
            "full": weights_hash(unwrap(full.model)),
            "resumed": weights_hash(unwrap(resumed.model)),
            "ema": ema_hash,
            "skipped": res.skipped_steps,
            "step": res.step,
        },
    )
    cleanup(info)


def _loaded(trainer: Trainer) -> torch.nn.Module:
    model = TinyNet()
    trainer.ema.copy_to(model)
    return model


if __name__ == "__main__":
    main(Path(sys.argv[1]))
