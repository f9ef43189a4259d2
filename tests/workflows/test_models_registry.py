"""The model registry: every entry is consistent, and the tables the benchmark and CLI use are derived from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from pds_mri.config import preset
from pds_mri.errors import PdsError
from pds_mri.workflows.benchmark import shared_runs_of
from pds_mri.workflows.models import benchmark_defaults, model_help, model_spec, model_specs, trainable_models
from pds_mri.workflows.run import apply_overrides


@pytest.mark.parametrize("name", list(model_specs()))
def test_every_registered_model_is_consistent(name: str) -> None:
    spec = model_specs()[name]
    assert spec.name == name and spec.description
    # its overrides make a valid config
    values = preset("cpu").model_dump(mode="json")
    values["model"] = apply_overrides(values["model"], spec.overrides)
    type(preset("cpu")).model_validate(values)
    for other in filter(None, (spec.stage1_from, spec.resynthesis and spec.resynthesis.trained)):
        assert other in model_specs() and model_specs()[other].trainable  # relations point at trained models
    if spec.stage1_from:
        assert spec.family == "pds" and model_specs()[spec.stage1_from].family == "pds"


def test_derived_tables_match_the_registry() -> None:
    shared = shared_runs_of(tuple(model_specs()))
    assert set(shared) == {n for n, s in model_specs().items() if s.resynthesis or s.stage1_from}
    assert shared["pds-no-tissue"] == "stage 2 only, on the stage-1 weights of the pds run of the fold"
    assert shared_runs_of(("pds", "unet")) == {}
    assert "pds" in benchmark_defaults() and "pds-mean4" not in benchmark_defaults()
    assert set(trainable_models()) == {n for n, s in model_specs().items() if not s.resynthesis}
    help_text = model_help()
    assert all(name in help_text for name in trainable_models())


def test_unknown_and_benchmark_only_models_are_refused_by_train(tmp_path: Path) -> None:
    from pds_mri.workflows.train import TrainOptions, run_train

    with pytest.raises(PdsError, match="choose one of"):
        model_spec("pds-typo")
    with pytest.raises(PdsError, match="benchmark only"):
        run_train(TrainOptions(tmp_path / "prepared", tmp_path / "run", model="pds-mean4"))
    assert not (tmp_path / "run").exists()
