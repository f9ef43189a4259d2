"""The run and benchmark directory owners name every file in one place and behave like paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from pds_mri.io.run_layout import BenchmarkDir, FoldDir, RunDir


def test_run_dir_names_its_files_and_is_path_like(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "run")
    assert run.config == tmp_path / "run" / "config.yaml"
    assert (run.model.name, run.split.name, run.normalisation.name) == (
        "model.json",
        "split.json",
        "normalisation.json",
    )
    assert (run.model_card.name, run.uncertainty_scale.name) == ("MODEL_CARD.md", "uncertainty_scale.json")
    assert run.stage("stage2") == tmp_path / "run" / "stage2"
    with pytest.raises(ValueError, match="stage must be one of"):
        run.stage("stage3")
    assert Path(run) == run.path and str(run) == str(tmp_path / "run") and run / "x" == run.path / "x"
    assert not run.is_run()
    run.path.mkdir()
    run.config.write_text("{}")
    assert not run.is_run()  # a config alone is not a run
    run.split.write_text("{}")
    assert run.is_run()


def test_benchmark_dir_lists_existing_folds_in_numeric_order(tmp_path: Path) -> None:
    bench = BenchmarkDir(tmp_path)
    for name in ("fold-10", "fold-2", "fold-0", "fold-x", "notes"):
        (bench.model_dir("pds") / name).mkdir(parents=True)
    folds = bench.folds("pds")
    assert [f.fold for f in folds] == [0, 2, 10]  # a stray fold-x or other folder is not a fold
    fold = bench.fold("unet", 1)
    assert isinstance(fold, FoldDir) and fold.path == tmp_path / "runs" / "unet" / "fold-1"
    assert (fold.done.name, fold.trained.name) == ("done.json", "trained.json")
    assert (
        fold.synthesized("fmri2dmri").name == "synth-fmri2dmri"
        and fold.evaluation("dmri2fmri").name == "eval-dmri2fmri"
    )
    assert bench.folds("nothing") == [] and not bench.is_benchmark()
    bench.results_md.write_text("# results\n")
    assert bench.is_benchmark()
