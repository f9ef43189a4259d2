"""Run by test_training_validation_sharded.py, once under `torchrun --nproc_per_node=2` (gloo) and once as
one plain process:

    _ddp_validate.py PREPARED OUT

`pds train`'s validation (`training.validation.make_validate`) of a fixed-seed tiny PDS, stage 1 and stage 2, on every
validation subject of PREPARED. Each rank writes OUT/world{W}-rank{R}.json: the metrics it got and the
subject indices it synthesised itself.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _training_prepared import GRIDS

from pds_mri.config import Config, preset
from pds_mri.families.pds import PdsSynthesizer, Stage1Synthesizer
from pds_mri.io.atomic import write_json
from pds_mri.models.factory import build_pds
from pds_mri.training.data import PreparedCohort
from pds_mri.training.distributed import cleanup, init_distributed
from pds_mri.training.validation import make_validate

TINY_MODEL = {"base_channels": 4, "levels": 2, "attention": False, "pattern_hidden": 16, "tissue_channels": 4,
              "tissue_levels": 2, "micro_channels": 4, "diffusion": {"steps": 2, "stage2_steps": 1}}  # fmt: skip


class CountingCohort(PreparedCohort):
    """Records which subjects this process read (validation reads each subject it synthesises)."""

    seen: set[int]

    def __getitem__(self, index: int) -> dict[str, Any]:
        self.seen.add(index)
        return super().__getitem__(index)


def main(prepared: Path, out: Path) -> None:
    torch.set_num_threads(1)
    info = init_distributed(device="cpu")
    values = preset("cpu").model_dump(mode="json")
    values["grids"] = {k: g.model_dump(mode="json") for k, g in GRIDS.items()}
    values["model"] |= TINY_MODEL
    config = Config.model_validate(values)
    torch.manual_seed(0)  # the same weights in every process
    holder = nn.Module()
    holder.pds = build_pds(config.model, [i % 6 for i in range(160)]).eval()
    val_set = CountingCohort(prepared)
    val_set.seen = set()
    synthesizers = {"stage1": Stage1Synthesizer, "stage2": PdsSynthesizer}
    metrics = {
        stage: make_validate(val_set, config, lambda model, s=synth: s(model.pds, config), dist=info)(holder, 1)
        for stage, synth in synthesizers.items()
    }
    write_json(
        out / f"world{info.world_size}-rank{info.rank}.json",
        {"metrics": metrics, "seen": sorted(val_set.seen), "subjects": len(val_set)},
    )
    cleanup(info)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
