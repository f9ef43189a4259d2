"""Run by test_training_faults.py under `torchrun --nproc_per_node=2` (gloo on CPU).

    _ddp_fault.py OUT fail      rank 1 raises a PdsError in its 3rd step: every rank must end, promptly
    _ddp_fault.py OUT signal K  rank 1 gets SIGTERM in step K: both ranks checkpoint the same step, exit 75
    _ddp_fault.py OUT resume    continue OUT/run to the end; each rank writes its weights' hash

Errors are printed as `pds train` prints them (one line, status 2; StoppedBySignal: status 75).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _training_helpers import PairDataset, TinyNet, loss_fn, weights_hash

from pds_mri.errors import PdsError, StoppedBySignal
from pds_mri.io.atomic import write_json
from pds_mri.training.config import TrainerConfig
from pds_mri.training.distributed import init_distributed
from pds_mri.training.ema import unwrap
from pds_mri.training.faults import distributed_job
from pds_mri.training.trainer import Trainer

STEPS = 8


def main(out: Path, mode: str, at: int) -> int:
    torch.set_num_threads(1)
    info = init_distributed(device="cpu")
    cfg = TrainerConfig(
        steps=STEPS if mode != "fail" else 10_000,
        batch_size=2,
        lr=5e-3,
        warmup_steps=2,
        checkpoint_every=3,
        validate_every=0,
        log_every=1,
        tensorboard=False,
        progress=False,
    )

    def faulty(model: torch.nn.Module, batch: dict, gen: torch.Generator) -> dict[str, torch.Tensor]:
        calls = int(unwrap(model).calls)  # before this step's forward
        if info.rank == 1 and mode == "fail" and calls == 2:
            (out / "raised-at").write_text(repr(time.time()))  # the test times the ending from here
            raise PdsError("sub-07: the fMRI map is corrupt")
        if info.rank == 1 and mode == "signal" and calls == at:
            os.kill(os.getpid(), signal.SIGTERM)  # mid-step, as a SLURM time limit would
        return loss_fn(model, batch, gen)

    try:
        with distributed_job(info):
            torch.manual_seed(0)
            trainer = Trainer(TinyNet(), faulty, PairDataset(10), out / "run", cfg, None, info)
            trainer.train(resume=mode == "resume")
            write_json(out / f"rank{info.rank}.json", {"weights": weights_hash(unwrap(trainer.model))})
    except StoppedBySignal as exc:
        print(f"pds: {exc}", file=sys.stderr)
        return exc.exit_code
    except PdsError as exc:
        print(f"pds: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 0))
