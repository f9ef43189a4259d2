"""A new baseline is one family file: registering its family (with its `specs`) is all it takes for `--model`,
its help, the benchmark's model lists and errors to know it, and for `pds train` + the family contract to
train and synthesize it. The family here lives only for the test and is removed again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import typer
import yaml
from torch import nn

from pds_mri.cli import _model_name
from pds_mri.config import Config
from pds_mri.errors import PdsError
from pds_mri.families import FAMILIES, family_names
from pds_mri.families.one_pass import OnePassFamily, baseline_config
from pds_mri.families.spec import ModelSpec, Resynthesis
from pds_mri.models.baselines.factory import build_generator
from pds_mri.models.baselines.unet import RegressionObjective
from pds_mri.training.data import DIRECTIONS, PreparedCohort, collate
from pds_mri.workflows.benchmark import shared_runs_of  # imported before the family exists
from pds_mri.workflows.models import model_help, model_specs, resolve_models, trainable_models
from pds_mri.workflows.run import load_run_config, load_trained_model
from pds_mri.workflows.train import TrainOptions, run_train
from tiny_setup import tiny_config


class TinyL2Family(OnePassFamily):
    """What a new baseline's file holds: its objective and its named model."""

    name = "tiny-l2"
    specs = (
        ModelSpec("tiny-l2", "tiny-l2", "one-pass U-Net regression with an L2 loss (test only)"),
        ModelSpec(
            "tiny-l2-mean2", "tiny-l2", "its run, mean of 2 samples", resynthesis=Resynthesis("tiny-l2", samples=2)
        ),
    )

    def build_objective(self, config: Config) -> nn.Module:
        return RegressionObjective(build_generator(config.model), baseline_config(config).loss)


@pytest.fixture
def tiny_family() -> Iterator[str]:
    before = list(model_specs())
    FAMILIES.add(TinyL2Family.name, TinyL2Family(), help="test only")
    try:
        yield TinyL2Family.name
    finally:
        FAMILIES.remove(TinyL2Family.name)
    assert list(model_specs()) == before  # nothing leaks into the other tests


def test_a_registered_family_is_a_model_everywhere(tiny_family: str) -> None:
    assert tiny_family in family_names() and tiny_family in model_specs() and tiny_family in trainable_models()
    assert tiny_family in model_help()
    assert _model_name(tiny_family) == tiny_family  # the CLI's --model parser
    assert resolve_models((tiny_family, "pds")) == (tiny_family, "pds")  # `pds benchmark --models`
    assert list(model_specs())[:4] == ["pds", "unet", "pix2pix3d", tiny_family]  # own models first, then variants
    assert "tiny-l2-mean2" not in trainable_models()  # a benchmark relation, read from the registry when asked
    assert shared_runs_of(("tiny-l2-mean2",)) == {
        "tiny-l2-mean2": "the tiny-l2 run of the fold, synthesised in its configured mode with its configured steps, "
        "voxel-wise mean of 2 samples"
    }


def test_a_removed_family_is_unknown_again() -> None:
    assert "tiny-l2" not in model_specs()
    with pytest.raises(typer.BadParameter, match="choose one of pds, unet, pix2pix3d"):
        _model_name("tiny-l2")
    with pytest.raises(PdsError, match="--models tiny-l2"):
        resolve_models(("tiny-l2",))


def test_a_new_family_trains_one_step_and_synthesizes(tiny_family: str, prepared: Path, tmp_path: Path) -> None:
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_config(stage1_steps=1, stage2_steps=1)))
    run = run_train(TrainOptions(prepared, tmp_path / "run", config=config, model=tiny_family, seed=1))
    assert load_run_config(run).model is not None
    loaded = load_trained_model(run, prepared, torch.device("cpu"))
    assert loaded.model == tiny_family
    sampling = loaded.synthesizer.sampling()
    batch = {k: v for k, v in collate([PreparedCohort(prepared)[0]])[DIRECTIONS[0]].items() if torch.is_tensor(v)}
    mean, std = loaded.synthesizer.synthesize(batch, sampling, torch.Generator().manual_seed(0))
    assert mean.shape == batch["target"].shape and torch.isfinite(mean).all() and (std >= 0).all()
