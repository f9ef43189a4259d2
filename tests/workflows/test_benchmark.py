"""`pds benchmark`: a tiny 2-fold run with pds and unet, its results.json, and resumability."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from pds_mri.evaluation.metrics import PROTOCOL
from pds_mri.workflows import benchmark as bench
from pds_mri.workflows.benchmark import BenchmarkOptions, run_benchmark
from pds_mri.workflows.prepare import PrepareOptions, run_prepare
from tiny_setup import tiny_config

# Tiny grids, networks and 2-3 step budgets (one module fixture: keep the tests of a module in one function
# where they share it, so that pytest-xdist does not rebuild it on both workers).
TINY = tiny_config(stage1_steps=2, stage2_steps=2)


@pytest.fixture(scope="module")
def done(sim_bids: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bench")
    config = root / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY))
    prepared = root / "prepared"
    run_prepare(PrepareOptions(bids_dir=sim_bids, out_dir=prepared, config=config))
    options = BenchmarkOptions(prepared, root / "bench", folds=2, models=("pds", "unet"), config=config, seed=4)
    run_benchmark(options)
    return {"options": options, "out": root / "bench"}  # type: ignore[dict-item]


def test_benchmark_results_resume_and_errors(done: dict, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """One function so that the fixture's benchmark runs once whatever the xdist distribution."""
    _results_json_has_protocol_stats_times_and_a_table(done)
    _rerun_skips_finished_work_and_resumes_an_unfinished_pair(done, monkeypatch)
    _unknown_model_and_too_few_subjects_are_clear_errors(done)
    _a_damaged_done_json_is_one_error_naming_it(done)
    _refiner_ablations_train_stage2_on_the_pds_stage1(done)
    _mean_of_samples_reuses_the_pds_run_without_training(done, monkeypatch)
    _fold_option_runs_only_those_folds_and_collects_the_rest(done)


def _results_json_has_protocol_stats_times_and_a_table(done: dict) -> None:
    out = done["out"]
    results = json.loads((out / "results.json").read_text())
    assert results["protocol"] == PROTOCOL and results["folds"] == 2 and results["seed"] == 4
    assert results["complete"] and set(results["models"]) == {"pds", "unet"}
    tested = set()
    for model in ("pds", "unet"):
        entry = results["per_model"][model]
        assert entry["folds_done"] == [0, 1] and entry["train_seconds"]["mean"] > 0
        assert entry["synth_seconds_per_subject"]["mean"] > 0
        for direction in ("fmri2dmri", "dmri2fmri"):
            stats = entry["directions"][direction]
            assert stats["psnr"]["n"] == 4 and stats["psnr"]["mean"] > 0 and stats["ssim"]["std"] is not None
        for fold in (0, 1):
            record = json.loads((out / "runs" / model / f"fold-{fold}" / "done.json").read_text())
            tested |= set(record["test_subjects"]) if model == "pds" else set()
            assert {r["direction"] for r in record["rows"]} == {"fmri2dmri", "dmri2fmri"}
    assert len(tested) == 4  # every subject with both modalities is tested exactly once over the folds
    comp = results["comparisons"]["unet"]["fmri2dmri"]["psnr"]
    assert comp["n"] == 4 and comp["ci_low"] <= comp["mean_difference"] <= comp["ci_high"]
    assert 0 <= comp["p_wilcoxon"] <= 1 and "pds" not in results["comparisons"]
    rows = {(r["model"], r["direction"]): r for r in results["table"]}
    assert len(rows) == 4 and rows[("unet", "dmri2fmri")]["delta_psnr_ci"] is not None
    assert rows[("pds", "fmri2dmri")]["delta_psnr"] is None
    md = (out / "results.md").read_text()
    assert "| unet | fmri2dmri | 4 |" in md and "ΔPSNR" in md
    # equal budgets: unet trains PDS's stage-1 + stage-2 steps; PDS counts its refiners' parameters too
    steps = TINY["training"]["stage1"]["steps"] + TINY["training"]["stage2"]["steps"]
    assert results["per_model"]["unet"]["optimiser_steps"] == results["per_model"]["pds"]["optimiser_steps"] == steps
    assert results["per_model"]["pds"]["parameters"] > results["per_model"]["unet"]["parameters"] > 0
    assert f"| {results['per_model']['unet']['parameters']:,} | {steps} |" in md
    splits = [json.loads((out / "runs" / m / "fold-1" / "split.json").read_text())["test"] for m in ("pds", "unet")]
    assert splits[0] == splits[1]  # the same subject-level split for every model


def _rerun_skips_finished_work_and_resumes_an_unfinished_pair(done: dict, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from pds_mri.workflows import synthesize, train

    calls: dict[str, list] = {"train": [], "synth": []}
    real_train, real_synth = train.run_train, synthesize.run_synthesize

    def spy_train(options):  # type: ignore[no-untyped-def]
        calls["train"].append(options)
        return real_train(options)

    def spy_synth(options):  # type: ignore[no-untyped-def]
        calls["synth"].append(options)
        return real_synth(options)

    monkeypatch.setattr(train, "run_train", spy_train)
    monkeypatch.setattr(synthesize, "run_synthesize", spy_synth)
    out = done["out"]
    before = json.loads((out / "results.json").read_text())
    run_benchmark(done["options"])
    assert calls == {"train": [], "synth": []}  # everything finished is skipped
    after = json.loads((out / "results.json").read_text())
    assert after["table"] == before["table"]
    # a pair killed after training started: no done.json, no trained.json -> training resumes, synthesis redone
    fold = out / "runs" / "unet" / "fold-1"
    (fold / bench.DONE).unlink()
    (fold / bench.TRAINED).unlink()
    run_benchmark(done["options"])
    assert len(calls["train"]) == 1 and calls["train"][0].resume and calls["train"][0].model == "unet"
    assert [o.direction for o in calls["synth"]] == ["fmri2dmri", "dmri2fmri"]
    assert all(not o.use_diagnosis for o in calls["synth"])
    assert (fold / bench.DONE).is_file()
    again = json.loads((out / "results.json").read_text())
    assert again["per_model"]["unet"]["directions"] == before["per_model"]["unet"]["directions"]


def _unknown_model_and_too_few_subjects_are_clear_errors(done: dict) -> None:
    from dataclasses import replace

    from pds_mri.errors import PdsError

    with pytest.raises(PdsError, match="--models gan"):
        run_benchmark(replace(done["options"], models=("gan",)))
    with pytest.raises(PdsError, match="5 folds need"):
        run_benchmark(replace(done["options"], folds=5))


def _a_damaged_done_json_is_one_error_naming_it(done: dict) -> None:
    """Resuming reads every finished fold's record; a truncated one was a JSONDecodeError traceback."""
    from pds_mri.errors import InputError

    record = done["out"] / "runs" / "unet" / "fold-1" / bench.DONE
    kept = record.read_bytes()
    record.write_bytes(kept[: len(kept) // 2])
    try:
        with pytest.raises(InputError, match=r"done\.json: benchmark fold record is not valid JSON"):
            run_benchmark(done["options"])
    finally:
        record.write_bytes(kept)


def _refiner_ablations_train_stage2_on_the_pds_stage1(done: dict) -> None:
    from dataclasses import replace

    import torch

    from pds_mri.families.pds import load_trained_pds
    from pds_mri.workflows.run import load_run_config

    options = replace(done["options"], models=("pds", "pds-no-tissue"))
    results = run_benchmark(options)
    assert results["complete"] and "pds-no-tissue" in results["shared_runs"]
    prepared = options.prepared_dir
    for fold in (0, 1):
        ablation = done["out"] / "runs" / "pds-no-tissue" / f"fold-{fold}"
        trained = json.loads((ablation / bench.TRAINED).read_text())
        assert trained["stage1_from"] == "pds" and not (ablation / "stage1").exists()
        assert trained["train_seconds"] > bench.training_seconds(ablation)  # includes the shared stage 1
        source = done["out"] / "runs" / "pds" / f"fold-{fold}"
        full, stage, _ = load_trained_pds(source, load_run_config(source), prepared, torch.device("cpu"))
        config = load_run_config(ablation)
        ablated, ablated_stage, _ = load_trained_pds(ablation, config, prepared, torch.device("cpu"))
        assert stage == ablated_stage == "stage2" and not config.model.use_tissue and ablated.tissue_refiner is None
        for (name, a), (_, b) in zip(
            full.denoiser.state_dict().items(), ablated.denoiser.state_dict().items(), strict=True
        ):
            assert torch.equal(a, b), name  # frozen in stage 2: both carry the same stage-1 weights
    from pds_mri.errors import PdsError
    from pds_mri.workflows.train import TrainOptions, run_train

    source = done["out"] / "runs" / "pds" / "fold-0"
    other = TrainOptions(prepared, done["out"] / "extra", config=options.config, model="pds-no-pattern", stage="2")
    with pytest.raises(PdsError, match=r"does not fit this model.*pattern_encoder"):
        run_train(replace(other, stage1_from=source))  # its denoiser was trained with the pattern embedding
    with pytest.raises(PdsError, match="--stage1-from trains stage 2 only"):
        run_train(replace(other, stage="all", stage1_from=source))


def _mean_of_samples_reuses_the_pds_run_without_training(done: dict, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    import nibabel as nib
    import numpy as np

    from pds_mri.workflows import synthesize, train

    calls: dict[str, list] = {"train": [], "synth": []}
    real_synth = synthesize.run_synthesize
    monkeypatch.setattr(train, "run_train", lambda options: calls["train"].append(options))

    def spy_synth(options):  # type: ignore[no-untyped-def]
        calls["synth"].append(options)
        return real_synth(options)

    monkeypatch.setattr(synthesize, "run_synthesize", spy_synth)
    results = run_benchmark(replace(done["options"], models=("pds", "pds-mean4")))
    assert results["complete"] and calls["train"] == []  # the fold's pds run is reused
    assert {o.samples for o in calls["synth"]} == {4} and len(calls["synth"]) == 4  # 2 folds x 2 directions
    assert "mean of 4 samples" in results["shared_runs"]["pds-mean4"]
    assert set(results["shared_runs"]) == {"pds-mean4"}  # only the models of this benchmark are described
    mean_fold = done["out"] / "runs" / "pds-mean4" / "fold-0"
    record = json.loads((mean_fold / bench.DONE).read_text())
    assert record["synthesis_samples"] == 4 and record["trained_model"] == "pds"
    synthesis, std = "*/func/*space-fmrigrid_desc-*Synth_*.nii.gz", "*/func/*desc-*SynthStd_*"
    one = sorted((done["out"] / "runs" / "pds" / "fold-0" / "synth-dmri2fmri").glob(synthesis))
    four = sorted((mean_fold / "synth-dmri2fmri").glob(synthesis))
    assert one and len(one) == len(four) and list((mean_fold / "synth-dmri2fmri").glob(std))
    assert not np.allclose(nib.load(one[0]).get_fdata(), nib.load(four[0]).get_fdata())  # a mean, not one draw


def _fold_option_runs_only_those_folds_and_collects_the_rest(done: dict) -> None:
    from dataclasses import replace

    from pds_mri.errors import PdsError

    options = replace(done["options"], models=("pds", "pds-50steps"), only_folds=(1,))
    results = run_benchmark(options)
    assert results["per_model"]["pds-50steps"]["folds_done"] == [1] and not results["complete"]
    assert results["per_model"]["pds"]["folds_done"] == [0, 1]  # finished folds outside --fold are collected
    assert not (done["out"] / "runs" / "pds-50steps" / "fold-0").exists()
    with pytest.raises(PdsError, match="--fold 2: folds are numbered 0 to 1"):
        run_benchmark(replace(options, only_folds=(2,)))
