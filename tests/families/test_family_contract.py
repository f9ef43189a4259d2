"""The contract every model family passes (like diffusers' SchedulerCommonTest): it is found by its name, its
objectives give finite losses with gradients, its synthesis is deterministic for a seed and well-formed, and a
run it trained loads back for synthesis. Driven by `family_names()`, so a new family runs it at once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from pds_mri.config import Config
from pds_mri.disease.run_priors import RunPriors
from pds_mri.errors import PdsError
from pds_mri.families import family, family_names
from pds_mri.families.base import Sampling
from pds_mri.training.config import TrainerConfig
from pds_mri.training.data import DIRECTIONS, PreparedCohort, collate, read_cohort
from pds_mri.workflows.models import model_specs
from pds_mri.workflows.run import load_run_config
from pds_mri.workflows.train import TrainOptions, run_train
from tiny_setup import tiny_config


def test_the_families_are_found_by_name_and_unknown_names_list_them() -> None:
    assert {"pds", "unet", "pix2pix3d"} <= set(family_names())
    assert {spec.family for spec in model_specs().values()} <= set(family_names())
    with pytest.raises(PdsError, match=r"choose one of .*pix2pix3d"):
        family("gan")


@pytest.fixture(scope="module")
def trained(prepared: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One 1-step run of each family (its first trainable model), on the shared prepared cohort."""
    root = tmp_path_factory.mktemp("families")
    config = root / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_config(stage1_steps=1, stage2_steps=1)))
    runs = {}
    for name in family_names():
        model = next(n for n, s in model_specs().items() if s.family == name and s.trainable)
        runs[name] = run_train(TrainOptions(prepared, root / name, config=config, model=model, seed=1))
    return runs


def _batch(prepared: Path) -> dict:
    ids = [r["participant_id"] for r in read_cohort(prepared) if r.get("fmri") and r.get("dmri")]
    return collate([PreparedCohort(prepared, ids[:1])[0]])


@pytest.mark.parametrize("name", family_names())
def test_every_family_keeps_the_contract(name: str, trained: dict[str, Path], prepared: Path) -> None:
    fam = family(name)
    run = trained[name]
    config: Config = load_run_config(run)
    assert fam.name == name and fam.STAGES[0] == "stage1"
    # its training: stages it has, trainer settings, an objective with a finite loss and gradients
    training = fam.start_training(config, prepared)
    assert training.stages() and set(training.stages()) <= set(fam.STAGES)
    assert isinstance(training.trainer_config("stage1"), TrainerConfig)
    objective = training.objective("stage1", run, RunPriors(), None)
    out = objective(_batch(prepared), torch.Generator().manual_seed(0))
    assert out["loss"].ndim == 0 and torch.isfinite(out["loss"])
    out["loss"].backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in objective.parameters())
    # its trained run loads back; the synthesis is well-formed and deterministic for a seed
    loaded = fam.load(run, config, prepared, torch.device("cpu"))
    assert loaded.stage in training.stages() and len(loaded.sha256) == 64
    synthesizer = loaded.synthesizer
    sampling = synthesizer.sampling(samples=2)
    assert isinstance(sampling, Sampling) and sampling.samples == 2 and sampling.evaluations >= 1
    assert synthesizer.sampling(steps=3).steps in (1, 3)  # one-pass families always take one step
    item = {k: v for k, v in collate([PreparedCohort(prepared)[0]])[DIRECTIONS[0]].items() if torch.is_tensor(v)}
    results = [synthesizer.synthesize(item, sampling, torch.Generator().manual_seed(4)) for _ in range(2)]
    (mean, std), (mean2, std2) = results
    assert mean.shape == std.shape == item["target"].shape
    assert torch.isfinite(mean).all() and (std >= 0).all() and mean.abs().max() <= 1.0
    assert torch.equal(mean, mean2) and torch.equal(std, std2)
    # what the run directory, the benchmark and the model card take from it
    counts = fam.parameter_counts(config, prepared)
    assert counts["total"] == sum(v for k, v in counts.items() if k != "total") > 0
    json.dumps(fam.model_info(config))
    assert fam.card_lines(config) and all(isinstance(line, str) for line in fam.card_lines(config))
