"""`pds diagnose` on a tiny hand-made prepared directory and benchmark layout (no training: fast).

The maps carry a diagnosis-dependent regional pattern plus noise; the "syntheses" are the real maps plus
noise, laid out exactly as `pds benchmark` writes them (runs/<model>/fold-k/split.json, synth-<direction>/
synthesized.tsv with sidecars), so the workflow's bookkeeping (folds, out-of-fold checks, protocols, outputs)
is tested without training a model.
"""

from __future__ import annotations

import csv
import json
import shutil
from dataclasses import replace
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from pds_mri.errors import InputError, PdsError
from pds_mri.io.atomic import save_nifti, write_json, write_tsv
from pds_mri.io.layout import COHORT_COLUMNS, grid_map, grid_mask, pattern_atlas
from pds_mri.io.synthesis_writer import SYNTH_COLUMNS
from pds_mri.training.split import split_subjects, write_split
from pds_mri.workflows.diagnose import DiagnoseOptions, run_diagnose

SHAPES = {"fmri": (6, 6, 4), "dmri": (8, 8, 5)}
DIAG = ("NC", "MCI", "AD")
FOLDS = 3


def _img(data: np.ndarray) -> nib.Nifti1Image:
    return nib.Nifti1Image(np.asarray(data, np.float32), np.eye(4))


def _atlas(modality: str) -> np.ndarray:
    x, y, _ = np.indices(SHAPES[modality])
    return (1 + x // 2 + (SHAPES[modality][0] // 2) * (y // 2)).astype(np.float32)


def build_prepared(root: Path, n_per_class: int = 8) -> tuple[Path, dict[str, dict[str, np.ndarray]], list[str]]:
    rng = np.random.default_rng(0)
    prepared = root / "prepared"
    patterns = {m: rng.normal(size=(3, int(_atlas(m).max()) + 1)) for m in SHAPES}
    for m in SHAPES:
        save_nifti(_img(_atlas(m)), prepared / pattern_atlas(m))  # type: ignore[arg-type]
    rows, maps = [], {}
    labels = [DIAG[c] for c in range(3) for _ in range(n_per_class)] + ["NC", "n/a"]
    for i, dx in enumerate(labels):
        sub = f"sub-{i:02d}"
        row = dict.fromkeys(COHORT_COLUMNS, "n/a") | {"participant_id": sub, "diagnosis": dx}
        maps[sub] = {}
        for m in SHAPES:
            c = DIAG.index(dx) if dx in DIAG else 0
            data = patterns[m][c][_atlas(m).astype(int)] + 0.7 * rng.normal(size=SHAPES[m])
            mask = np.ones(SHAPES[m])
            mask[0, 0, 0] = 0 if i % 2 else 1  # the feature space is the masks' intersection
            maps[sub][m] = data.astype(np.float32)
            row[f"{m}_mask"] = grid_mask(sub, m)  # type: ignore[arg-type]
            save_nifti(_img(mask), prepared / row[f"{m}_mask"])
            if i == len(labels) - 2 and m == "dmri":
                continue  # one subject without dMRI: not analysed
            row[m] = grid_map(sub, m, "map")  # type: ignore[arg-type]
            save_nifti(_img(data), prepared / row[m])
        rows.append(row)
    write_tsv(prepared / "cohort.tsv", rows, COHORT_COLUMNS)
    paired = [r["participant_id"] for r in rows if r["dmri"] != "n/a" and r["diagnosis"] in DIAG]
    return prepared, maps, [*paired, rows[-1]["participant_id"]]


def build_benchmark(root: Path, maps: dict, ids: list[str], models=("pds", "unet")) -> Path:
    """runs/<model>/fold-k with the split and out-of-fold 'syntheses' (real + noise) of the fold's test subjects."""
    bench = root / "bench"
    rng = np.random.default_rng(1)
    diagnoses = [0] * len(ids)
    for k in range(FOLDS):
        split = split_subjects(ids, diagnoses, fold=k, folds=FOLDS, seed=0)
        for model in models:
            fold = bench / "runs" / model / f"fold-{k}"
            write_split(fold, split, fold=k, folds=FOLDS, seed=0)
            for direction, target in (("fmri2dmri", "dmri"), ("dmri2fmri", "fmri")):
                synth = fold / f"synth-{direction}"
                rows = []
                for sub in split["test"]:
                    noisy = maps[sub][target] + (0.3 if model == "pds" else 0.6) * rng.normal(size=SHAPES[target])
                    name = f"{sub}/{sub}_space-{target}grid_desc-synth_{target}.nii.gz"
                    save_nifti(_img(noisy), synth / name)
                    sidecar = f"{sub}/{sub}_desc-synth_{target}.json"
                    write_json(synth / sidecar, {"Model": model, "DiagnosisUsed": False, "Direction": direction})
                    rows.append(
                        {
                            "participant_id": sub,
                            "direction": direction,
                            "target": target,
                            "synthesis": name,
                            "sidecar": sidecar,
                        }
                    )
                write_tsv(synth / "synthesized.tsv", rows, SYNTH_COLUMNS)
    return bench


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("diagnose")
    prepared, maps, ids = build_prepared(root)
    bench = build_benchmark(root, maps, ids)
    return {"root": root, "prepared": prepared, "bench": bench, "ids": ids}


def test_benchmark_mode_runs_every_protocol_with_the_benchmark_folds(tiny: dict) -> None:
    out = tiny["root"] / "out"
    result = run_diagnose(
        DiagnoseOptions(
            tiny["prepared"], out, benchmark_dir=tiny["bench"], classifier="logreg", folds=5, missing=0.3, seed=0
        )
    )
    assert result["subjects"] == 24 and result["class_counts"] == {"NC": 8, "MCI": 8, "AD": 8}
    names = [r["protocol"] for r in result["table"]]
    assert len(names) == 14 and not result["not_run"], result["not_run"]
    assert "real->real" in names and "missing-fmri: impute-unet" in names
    assert any("--folds 5 ignored" in n for n in result["notes"])
    bench_tests = [
        json.loads((tiny["bench"] / "runs" / "pds" / f"fold-{k}" / "split.json").read_text())["test"]
        for k in range(FOLDS)
    ]
    analysed = set(tiny["ids"][:-1])
    assert result["folds"]["test"] == [sorted(set(t) & analysed) for t in bench_tests]
    rows = {r["protocol"]: r for r in result["table"]}
    rr = rows["real->real"]
    assert rr["n"] == 24 and rr["balanced_accuracy"] > 0.6
    assert rr["balanced_accuracy_ci"][0] <= rr["balanced_accuracy"] <= rr["balanced_accuracy_ci"][1]
    assert np.asarray(rr["confusion"]).sum() == 24
    for rec in rr["folds"]:
        assert set(rec["fitted_on"].values()) == {rec["n_train"]} and rec["n_train"] + rec["n_test"] == 24
    # every prediction's fold is the benchmark fold where that subject was tested (so its synthesis is out-of-fold)
    fold_of = {s: k for k, t in enumerate(bench_tests) for s in t}
    for name in ("hybrid(pds dMRI)->real", "real->hybrid(pds fMRI)", "missing-dmri: impute-pds"):
        assert all(p["fold"] == fold_of[p["participant_id"]] for p in rows[name]["predictions"])
    drop = rows["missing-dmri: drop"]
    assert drop["n"] < 24 and drop["on_complete_subjects"]["n"] == drop["n"]
    assert rows["missing-dmri: impute-pds"]["n"] == 24
    pairs = {(c["a"], c["b"]): c for c in result["comparisons"]}
    hybrid = pairs[("hybrid(pds dMRI)->real", "real->real")]
    assert hybrid["subjects"] == "all" and hybrid["n"] == 24
    assert hybrid["balanced_accuracy"] == pytest.approx(
        rows["hybrid(pds dMRI)->real"]["balanced_accuracy"] - rr["balanced_accuracy"]
    )
    versus_drop = pairs[("missing-dmri: impute-pds", "missing-dmri: drop")]
    assert versus_drop["subjects"] == "complete" and versus_drop["n"] == drop["n"]
    versus_unet = pairs[("missing-fmri: impute-pds", "missing-fmri: impute-unet")]
    assert versus_unet["subjects"] == "all" and versus_unet["n"] == 24  # imputation acts on the incomplete ones
    assert pairs[("missing-dmri: impute-pds", "missing-dmri: single-fmri")]["subjects"] == "all"
    assert len(pairs) == 5 + 2 * 3
    md = (out / "diagnosis.md").read_text()
    assert "| real->real | 24 |" in md and "missing-fmri: single-dmri" in md and "Paired differences" in md
    assert json.loads((out / "diagnosis.json").read_text())["table"][0]["protocol"] == "real->real"


def test_run_mode_and_missing_unet_say_what_could_not_run(tiny: dict) -> None:
    run_dir = tiny["bench"] / "runs" / "pds" / "fold-0"
    result = run_diagnose(DiagnoseOptions(tiny["prepared"], tiny["root"] / "out-run", run_dir=run_dir, missing=0.0))
    names = {r["protocol"] for r in result["table"]}
    assert names == {"real->real", "real->hybrid(pds dMRI)", "real->hybrid(pds fMRI)"}
    reasons = {r["protocol"]: r["reason"] for r in result["not_run"]}
    assert set(reasons) == {"hybrid(pds dMRI)->real", "hybrid(pds fMRI)->real", "synthetic(pds)->real"}
    assert all("training subject" in r for r in reasons.values())
    assert result["classifier"] == "pca-svm" and result["folds"]["n"] == 1

    bench = tiny["root"] / "bench-no-unet"
    shutil.copytree(tiny["bench"], bench)
    shutil.rmtree(bench / "runs" / "unet")
    result = run_diagnose(
        DiagnoseOptions(
            tiny["prepared"], tiny["root"] / "out-nounet", benchmark_dir=bench, classifier="logreg", missing=0.3
        )
    )
    assert {r["protocol"] for r in result["not_run"]} == {"missing-dmri: impute-unet", "missing-fmri: impute-unet"}
    assert any(n.startswith("unet:") for n in result["notes"])


def test_leaky_syntheses_are_refused(tiny: dict) -> None:
    bench = tiny["root"] / "bench-leak"
    shutil.copytree(tiny["bench"], bench)
    synth = bench / "runs" / "pds" / "fold-1" / "synth-fmri2dmri"
    sidecar = next(synth.glob("sub-*/*.json"))
    sidecar.write_text(json.dumps({"DiagnosisUsed": True}))
    options = DiagnoseOptions(tiny["prepared"], tiny["root"] / "out-leak", benchmark_dir=bench, classifier="logreg")
    with pytest.raises(InputError, match="DiagnosisUsed"):
        run_diagnose(options)
    sidecar.write_text(json.dumps({"DiagnosisUsed": False}))
    # a synthesis of a subject the fold's model trained on is not out-of-fold
    train_sub = json.loads((synth.parent / "split.json").read_text())["train"][0]
    with (synth / "synthesized.tsv").open("a", newline="") as fh:
        csv.writer(fh, delimiter="\t").writerow(
            [train_sub, "fmri2dmri", "fmri", "dmri", "x.nii.gz", "", "", "", sidecar.relative_to(synth).as_posix()]
        )
    with pytest.raises(InputError, match="out-of-fold"):
        run_diagnose(options)
    # both sources at once is a usage error
    with pytest.raises(PdsError, match="not both"):
        run_diagnose(DiagnoseOptions(tiny["prepared"], tiny["root"] / "x", run_dir=bench, benchmark_dir=bench))


def _mean4_record(fold: int, run_dir: str) -> dict:
    """A done.json as `pds benchmark` writes it for the pds-mean4 resynthesis of a pds run."""
    from pds_mri.io.result_files import FoldRecord, record_json

    return record_json(
        FoldRecord(
            model="pds-mean4",
            fold=fold,
            trained_model="pds",
            run_dir=run_dir,
            synthesis_steps=None,
            synthesis_samples=4,
            synthesis_mode="sample",
            test_subjects=[],
            train_seconds=0.0,
            rows=[],
        )
    )


def test_models_option_uses_a_resynthesis_model_checked_against_the_run_it_reused(tiny: dict) -> None:
    """pds-mean4 has no split of its own (it resynthesised the pds runs): done.json's run_dir supplies it."""
    bench = tiny["root"] / "bench-mean"
    shutil.copytree(tiny["bench"], bench)
    for k in range(FOLDS):
        fold = bench / "runs" / "pds-mean4" / f"fold-{k}"
        for direction in ("fmri2dmri", "dmri2fmri"):
            shutil.copytree(bench / "runs" / "pds" / f"fold-{k}" / f"synth-{direction}", fold / f"synth-{direction}")
        write_json(fold / "done.json", _mean4_record(k, f"runs/pds/fold-{k}"))
    base = DiagnoseOptions(tiny["prepared"], tiny["root"] / "out-pds", benchmark_dir=bench, classifier="logreg")
    mean = replace(base, out_dir=tiny["root"] / "out-mean", models=("pds-mean4", "unet"))
    by_pds, by_mean = run_diagnose(base), run_diagnose(mean)
    names = [r["protocol"] for r in by_mean["table"]]
    assert len(names) == 14 and "hybrid(pds-mean4 dMRI)->real" in names and "missing-fmri: impute-pds-mean4" in names
    assert by_mean["synthesis_models"] == ["pds-mean4", "unet"]
    pds_rows = {r["protocol"]: r for r in by_pds["table"]}
    mean_rows = {r["protocol"].replace("pds-mean4", "pds"): r for r in by_mean["table"]}
    assert mean_rows["hybrid(pds dMRI)->real"]["predictions"] == pds_rows["hybrid(pds dMRI)->real"]["predictions"]
    # a resynthesis whose run is not the benchmark fold's: its test set differs -> refused
    done = bench / "runs" / "pds-mean4" / "fold-0" / "done.json"
    write_json(done, _mean4_record(0, "runs/pds/fold-1"))
    with pytest.raises(InputError, match="test split differs"):
        run_diagnose(mean)
    with pytest.raises(PdsError, match="distinct"):
        run_diagnose(replace(mean, models=("pds", "pds")))
    with pytest.raises(PdsError, match="--models pds-mean5"):
        run_diagnose(replace(mean, models=("pds-mean5",)))
    with pytest.raises(InputError, match="no complete set of pds-50steps folds"):
        run_diagnose(replace(mean, models=("pds-50steps", "unet")))  # the hybrid rows' model must be there
    write_json(done, _mean4_record(0, "../../../.."))  # outside the benchmark
    with pytest.raises(InputError, match="leads outside"):
        run_diagnose(mean)
    write_json(done, [1, 2])  # not a record: pds-mean4 has no complete set of folds
    with pytest.raises(InputError, match="no complete set of pds-mean4 folds"):
        run_diagnose(mean)


def test_own_folds_keep_the_sessions_of_a_subject_in_one_fold() -> None:
    from pds_mri.evaluation.diagnosis_sources import own_folds

    ids = [f"sub-{i:02d}_ses-0{s}" for i in range(12) for s in (1, 2)]
    groups = [i.split("_")[0] for i in ids]
    y = np.asarray([i % 3 for i in range(12) for _ in (1, 2)])
    folds = own_folds(ids, y, 3, 0, groups)
    for train, test in folds:
        assert {i.split("_")[0] for i in train}.isdisjoint({i.split("_")[0] for i in test})
    assert sorted(i for _, test in folds for i in test) == sorted(ids)
