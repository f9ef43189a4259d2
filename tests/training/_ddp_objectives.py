"""Run by test_training_ddp_objectives.py under `torchrun --nproc_per_node=2` (gloo on CPU), and as one
plain process (at twice the batch) for the comparison.

    _ddp_objectives.py PREPARED CONFIG OUT MODEL [float64]

`pds train --model MODEL` (the real objectives: PDS stage 1 and 2, unet, pix2pix3d with its
hand-made discriminator all-reduce), each rank recording the hash of its weights at the end of every stage
in OUT/MODEL-STAGE-rankR.json (the checkpoint holds rank 0's only). One model per process: a process group
is not re-created in one process (gloo's second full-mesh connect fails or stalls).

``float64``: networks and data in float64, for the 2-process = 1-process comparison. Why: a bias followed by
a GroupNorm/InstanceNorm has a zero gradient whose fp32 rounding noise (~1e-9) Adam normalises into a step of
~0.1·lr with a random sign, so in fp32 those biases differ by ~1e-3 between any two reduction orders; in
float64 the noise is ~1e-17 and every weight must agree.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _training_helpers import weights_hash

from pds_mri.io.atomic import write_json
from pds_mri.training import data as data_module
from pds_mri.training import trainer as trainer_module
from pds_mri.training.ema import unwrap
from pds_mri.workflows.train import TrainOptions, run_train


def main(prepared: Path, config: Path, out: Path, model: str, dtype: str = "float32") -> None:
    torch.set_num_threads(1)
    if dtype == "float64":
        torch.set_default_dtype(torch.float64)
        load = data_module.load_direction_item

        def load_float64(*args, **kwargs):  # type: ignore[no-untyped-def]
            item = load(*args, **kwargs)
            return {k: v.double() if v.is_floating_point() else v for k, v in item.items()}

        data_module.load_direction_item = load_float64  # type: ignore[assignment]
    original = trainer_module.Trainer.train

    def recording_train(self: trainer_module.Trainer, *args, **kwargs):  # type: ignore[no-untyped-def]
        result = original(self, *args, **kwargs)
        write_json(
            out / f"{model}-{self.run_dir.name}-rank{self.dist.rank}.json",
            {"weights": weights_hash(unwrap(self.model)), "step": result.step, "world": self.dist.world_size},
        )
        return result

    trainer_module.Trainer.train = recording_train  # type: ignore[method-assign]
    run_train(TrainOptions(prepared, out / model, config=config, model=model, seed=1))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), *sys.argv[4:6])
