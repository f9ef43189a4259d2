"""The whole training package wired as `pds train` will wire it: cohort → split → dataset → Trainer."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from pds_mri.training.checkpoint import checkpoint_hash
from pds_mri.training.config import TrainerConfig
from pds_mri.training.data import DIRECTIONS, PreparedCohort, collate
from pds_mri.training.sample_rng import SampleRng
from pds_mri.training.split import split_subjects, write_split
from pds_mri.training.trainer import Trainer


class PerDirection(nn.Module):
    """One 1×1×1 conv per direction: source → target on the target grid (a stand-in for PDS)."""

    def __init__(self) -> None:
        super().__init__()
        self.heads = nn.ModuleList([nn.Conv3d(1, 1, 1) for _ in DIRECTIONS])

    def forward(self, source: torch.Tensor, direction: int) -> torch.Tensor:
        return self.heads[direction](source)


def loss_fn(model: nn.Module, batch: dict, rng: SampleRng) -> dict[str, torch.Tensor]:
    terms = {}
    for code, name in enumerate(DIRECTIONS):
        d = batch[name]
        pred = model(d["source"], code)
        terms[name] = ((pred - d["target"]).abs() * d["mask"]).sum() / d["mask"].sum()
    return {"loss": sum(terms.values()), **terms}


def test_prepared_cohort_trains_end_to_end(prepared: Path, tmp_path: Path) -> None:
    full = PreparedCohort(prepared)
    split = split_subjects(full.participant_ids, full.diagnoses, fold=0, folds=1, seed=0, val_fraction=0.5)
    write_split(tmp_path / "run", split, fold=0, folds=1, seed=0)
    train, val = PreparedCohort(prepared, split["train"]), PreparedCohort(prepared, split["val"])

    @torch.no_grad()
    def validate(model: nn.Module, step: int) -> dict[str, float]:
        batch = collate([val[i] for i in range(len(val))])
        mse = float(loss_fn(model, batch, torch.Generator())["loss"]) ** 2
        return {"psnr": -10 * torch.log10(torch.tensor(mse)).item()}

    torch.manual_seed(0)
    cfg = TrainerConfig(steps=4, batch_size=1, warmup_steps=1, validate_every=2, tensorboard=False, progress=False)
    trainer = Trainer(PerDirection(), loss_fn, train, tmp_path / "run", cfg, validate, collate_fn=collate)
    result = trainer.train()
    assert result.step == 4 and result.best_step is not None
    assert (tmp_path / "run/split.json").is_file()
    assert len(checkpoint_hash(tmp_path / "run/checkpoints/best")) == 64
