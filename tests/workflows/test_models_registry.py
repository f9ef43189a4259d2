"""The model registry: every entry is consistent, and the tables the benchmark and CLI use are derived from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from pds_mri.config import preset
from pds_mri.errors import PdsError
from pds_mri.workflows.benchmark import DEFAULT_MODELS, SHARED_STAGE1, SHARED_TRAINING
from pds_mri.workflows.models import MODEL_SPECS, model_help, model_spec, trainable_models
from pds_mri.workflows.run import apply_overrides


@pytest.mark.parametrize("name", list(MODEL_SPECS))
def test_every_registered_model_is_consistent(name: str) -> None:
    spec = MODEL_SPECS[name]
    assert spec.name == name and spec.description
    # its overrides make a valid config
    values = preset("cpu").model_dump(mode="json")
    values["model"] = apply_overrides(values["model"], spec.overrides)
    type(preset("cpu")).model_validate(values)
    for other in filter(None, (spec.stage1_from, spec.resynthesis and spec.resynthesis.trained)):
        assert other in MODEL_SPECS and MODEL_SPECS[other].trainable  # relations point at trained models
    if spec.stage1_from:
        assert spec.family == "pds" and MODEL_SPECS[spec.stage1_from].family == "pds"


def test_derived_tables_match_the_registry() -> None:
    assert set(SHARED_TRAINING) == {n for n, s in MODEL_SPECS.items() if s.resynthesis}
    assert set(SHARED_STAGE1) == {n for n, s in MODEL_SPECS.items() if s.stage1_from}
    assert "pds" in DEFAULT_MODELS and "pds-mean4" not in DEFAULT_MODELS
    assert set(trainable_models()) == set(MODEL_SPECS) - set(SHARED_TRAINING)
    help_text = model_help()
    assert all(name in help_text for name in trainable_models())


def test_unknown_and_benchmark_only_models_are_refused_by_train(tmp_path: Path) -> None:
    from pds_mri.workflows.train import TrainOptions, run_train

    with pytest.raises(PdsError, match="choose one of"):
        model_spec("pds-typo")
    with pytest.raises(PdsError, match="benchmark only"):
        run_train(TrainOptions(tmp_path / "prepared", tmp_path / "run", model="pds-mean4"))
    assert not (tmp_path / "run").exists()
