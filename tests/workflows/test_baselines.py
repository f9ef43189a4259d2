"""`pds train --model unet|pix2pix3d|ddpm` + `pds synthesize` on tiny grids (real code paths)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import yaml

from pds_mri.cli import main
from pds_mri.workflows.prepare import PrepareOptions, run_prepare
from pds_mri.workflows.run import load_run_config, read_model_name
from pds_mri.workflows.synthesize import SynthesizeOptions, run_synthesize
from tiny_setup import tiny_config

# Tiny grids, networks and 2-3 step budgets (one module fixture: keep the tests of a module in one function
# where they share it, so that pytest-xdist does not rebuild it on both workers).
TINY = tiny_config(stage1_steps=3, stage2_steps=2)


@pytest.fixture(scope="module")
def tiny(sim_bids: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny-baselines")
    config = root / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY))
    prepared = root / "prepared"
    run_prepare(PrepareOptions(bids_dir=sim_bids, out_dir=prepared, config=config))
    return {"config": config, "prepared": prepared, "root": root}


def test_train_and_synthesize_each_baseline(tiny: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    for model in ("unet", "pix2pix3d", "ddpm"):
        _train_and_synthesize(tiny, model)
    assert main(["train", str(tiny["prepared"]), str(tiny["root"] / "x"), "--model", "gan"]) == 2
    err = capsys.readouterr().err
    assert "'gan' is not a model" in err and "pix2pix3d" in err


def _train_and_synthesize(tiny: dict[str, Path], model: str) -> None:
    run, out = tiny["root"] / f"run-{model}", tiny["root"] / f"synth-{model}"
    args = ["train", str(tiny["prepared"]), str(run), "--config", str(tiny["config"]), "--model", model, "--seed", "1"]
    assert main(args) == 0
    assert read_model_name(run) == model
    info = json.loads((run / "model.json").read_text())
    assert (run / "stage1" / "checkpoints" / "last" / "state.json").is_file()
    assert not (run / "stage2").exists()  # one stage
    state = json.loads((run / "stage1" / "checkpoints" / "last" / "state.json").read_text())
    stages = TINY["training"]
    # equal budgets: a one-stage baseline trains PDS's stage-1 + stage-2 steps; ddpm is PDS code with no stage 2
    expected = stages["stage1"]["steps"] + (0 if model == "ddpm" else stages["stage2"]["steps"])
    assert state["trainer"]["step"] == expected
    config = load_run_config(run)
    if model == "ddpm":  # PDS code with every PDS component off, eps, DDIM 50
        m = config.model
        assert not (m.use_pattern or m.use_tissue or m.use_micro or m.use_diagnosis)
        assert (m.diffusion.prediction_type, m.diffusion.sampler, m.diffusion.steps) == ("eps", "ddim", 50)
        assert info["family"] == "pds"
    else:
        assert info["family"] == model and info["baseline"]["l1_weight"] == 100.0
    assert f"Model card — {model}" in (run / "MODEL_CARD.md").read_text()
    split = json.loads((run / "split.json").read_text())
    pids = split["val"][:1]
    run_synthesize(SynthesizeOptions(run, tiny["prepared"], out, direction="dmri2fmri", participant_labels=tuple(pids)))
    rows = list(csv.DictReader((out / "synthesized.tsv").read_text().splitlines(), delimiter="\t"))
    assert [r["participant_id"] for r in rows] == pids
    grid = np.asarray(nib.load(out / rows[0]["synthesis"]).dataobj)
    assert grid.shape == tuple(config.grids.fmri.shape) and grid.min() >= -1 and grid.max() <= 1
    sidecar = json.loads((out / rows[0]["sidecar"]).read_text())
    assert sidecar["Model"] == model and sidecar["SynthesisSeconds"] >= 0
    assert sidecar["Steps"] == (50 if model == "ddpm" else 1)
    # resuming a finished run is a no-op; resuming it as another model is a clear error
    assert main([*args, "--resume"]) == 0
    other = "unet" if model != "unet" else "pds"
    assert main([*args[:-4], "--model", other, "--resume"]) == 2


def test_baseline_budget_stage1_only_when_asked() -> None:
    from pds_mri.config import Config, preset
    from pds_mri.families.one_pass import baseline_training

    base = preset("cpu")
    assert baseline_training(base).steps == base.training.stage1.steps + base.training.stage2.steps
    values = base.model_dump(mode="json")
    values["baselines"]["budget"] = "stage1"
    assert baseline_training(Config.model_validate(values)).steps == base.training.stage1.steps
