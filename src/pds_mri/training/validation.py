"""Validation during training: the validation subjects synthesised as `pds synthesize` would, scored by PSNR/SSIM.

The trainer calls the returned function with its EMA weights every ``validate_every`` steps; the best score picks
the `best` checkpoint, so validation synthesises exactly as deployment does — label-free, in the run's configured
synthesis mode — and under torchrun it is sharded across ranks with the same numbers as one process.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable

import torch
from torch import nn

from pds_mri.config import Config
from pds_mri.disease.run_priors import RunPriors
from pds_mri.families.base import Sampling, Synthesizer
from pds_mri.training.data import PreparedCohort
from pds_mri.training.distributed import DistInfo


def make_validate(
    val_set: PreparedCohort,
    config: Config,
    synthesizer_for: Callable[[nn.Module], Synthesizer],
    priors: RunPriors | None = None,
    dist: DistInfo | None = None,
) -> Callable[[nn.Module, int], dict[str, float]]:
    """Synthesise the validation subjects with the EMA weights, without their diagnosis, in the configured
    synthesis mode; mean PSNR/SSIM over subjects and directions. With a disease state in ``priors`` the
    syntheses condition on its source-only estimate, as `pds synthesize` does.

    ``synthesizer_for`` gives the synthesis of the model being trained (its family's
    ``validation_synthesizer`` for the stage), from the module the trainer validates.

    Under torchrun (``dist``) each rank synthesises only its shard of the subjects (`shard`) and the per-subject
    scores are gathered by subject index, so every rank returns the same numbers, equal to one process's:
    each subject's noise is seeded by its index, and the means are taken in subject order.
    """
    from pds_mri.evaluation.metrics import psnr, ssim
    from pds_mri.training.data import DIRECTIONS, collate_direction
    from pds_mri.training.distributed import gather_by_index, shard

    rank, world = (dist.rank, dist.world_size) if dist is not None else (0, 1)

    @torch.no_grad()
    def score(synthesizer: Synthesizer, sampling: Sampling, index: int, direction: str) -> tuple[float, float]:
        device = synthesizer.device
        batch = {
            k: v.to(device) if torch.is_tensor(v) else v
            for k, v in collate_direction([val_set[index][direction]]).items()
        }
        # label-free, as `pds synthesize` and the benchmark synthesise: the checkpoint chosen as best
        # is the best at what it will be used for
        batch["diagnosis"] = torch.full_like(batch["diagnosis"], -1)
        if priors is not None and synthesizer.uses_conditioning:
            priors.attach_estimate(batch, direction)
        generator = torch.Generator(device=device).manual_seed(index)
        pred, _ = synthesizer.synthesize(batch, sampling, generator)
        return psnr(pred, batch["target"], batch["mask"]), ssim(pred, batch["target"], batch["mask"])

    def validate(model: nn.Module, step: int) -> dict[str, float]:
        synthesizer = synthesizer_for(model)
        sampling = synthesizer.sampling()  # the run's configured synthesis, one sample
        mine = {
            index: {direction: score(synthesizer, sampling, index, direction) for direction in DIRECTIONS}
            for index in shard(range(len(val_set)), rank, world)
        }
        subjects = gather_by_index(mine, len(val_set), dist) if dist is not None else [mine[i] for i in sorted(mine)]
        out: dict[str, float] = {}
        for direction in DIRECTIONS:
            out[f"{direction}/psnr"] = statistics.fmean(s[direction][0] for s in subjects)
            out[f"{direction}/ssim"] = statistics.fmean(s[direction][1] for s in subjects)
        out["psnr"] = statistics.fmean(out[f"{d}/psnr"] for d in DIRECTIONS)
        out["ssim"] = statistics.fmean(out[f"{d}/ssim"] for d in DIRECTIONS)
        return out

    return validate
