"""Disease-informed priors end to end: `pds train` fits them on the training fold only, `pds synthesize` uses
them without any label, and no label of a test subject can change a synthesis (tiny grids, real code paths)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
import yaml

from pds_mri.disease.pattern_map import MAP_FILE, load_maps
from pds_mri.disease.state import STATE_FILE, DiseaseState
from pds_mri.errors import InputError
from pds_mri.workflows.prepare import PrepareOptions, run_prepare
from pds_mri.workflows.synthesize import SynthesizeOptions, run_synthesize
from pds_mri.workflows.train import TrainOptions, run_train
from tiny_setup import tiny_config


@pytest.fixture(scope="module")
def disease_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from pds_mri.config import preset
    from pds_mri.simulate import simulate_cohort

    root = tmp_path_factory.mktemp("disease")
    bids = root / "bids"
    simulate_cohort(bids, preset("cpu"), n_subjects=9, seed=11)
    config = tiny_config(stage1_steps=3, stage2_steps=1)
    config["model"] |= {"disease_state": True, "disease_map_weight": 1.0}
    path = root / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    prepared = root / "prepared"
    run_prepare(PrepareOptions(bids_dir=bids, out_dir=prepared, config=path))
    run = root / "run"
    run_train(TrainOptions(prepared, run, config=path, seed=1, fold=0, folds=3))
    return {"root": root, "prepared": prepared, "run": run}


def _split(run: Path) -> dict[str, list[str]]:
    return json.loads((run / "split.json").read_text())


def _synth(run: Path, prepared: Path, out: Path, subjects: list[str], **kw: object) -> dict[str, bytes]:
    rows = run_synthesize(
        SynthesizeOptions(run, prepared, out, direction="fmri2dmri", participant_labels=tuple(subjects), **kw)
    )
    return {r["participant_id"]: (out / r["synthesis"]).read_bytes() for r in rows}


def test_priors_are_fitted_on_the_training_subjects_only(disease_run: dict[str, Path]) -> None:
    run, split = disease_run["run"], _split(disease_run["run"])
    state = DiseaseState.load(run / STATE_FILE)
    maps, fitted = load_maps(run / MAP_FILE)
    assert set(state.fitted_on) == set(split["train"]) == set(fitted)
    assert not set(fitted) & (set(split["val"]) | set(split["test"]))
    assert set(state.classifiers) == set(maps) == {"fmri2dmri", "dmri2fmri"}
    assert all(m.min() >= 0 and m.max() <= 1 and m.max() > 0 for m in maps.values())


def _provenance(synth: Path, participant: str) -> Path:
    """A subject's provenance sidecar, from the index (`sidecar`: the synthesis's own JSON)."""
    rows = csv.DictReader((synth / "synthesized.tsv").read_text().splitlines(), delimiter="\t")
    return synth / next(r["sidecar"] for r in rows if r["participant_id"] == participant)


def test_label_free_synthesis_records_the_estimate_and_uses_it(disease_run: dict[str, Path]) -> None:
    run, prepared, root = disease_run["run"], disease_run["prepared"], disease_run["root"]
    test = _split(run)["test"]
    with_state = _synth(run, prepared, root / "with", test)
    for p in test:
        sidecar = json.loads(_provenance(root / "with", p).read_text())
        assert sidecar["DiagnosisUsed"] is False
        probs = sidecar["DiseaseState"]["Probabilities"]
        assert set(probs) == {"NC", "MCI", "AD"} and abs(sum(probs.values()) - 1) < 1e-5
    without = _synth(run, prepared, root / "without", test, disease_state=False)
    assert any(with_state[p] != without[p] for p in test)  # the estimate conditions the synthesis
    sidecar = json.loads(_provenance(root / "without", test[0]).read_text())
    assert sidecar["DiseaseState"] is None


def test_changing_test_subjects_labels_cannot_change_their_syntheses(disease_run: dict[str, Path]) -> None:
    run, prepared, root = disease_run["run"], disease_run["prepared"], disease_run["root"]
    test = _split(run)["test"]
    relabelled = root / "relabelled"
    shutil.copytree(prepared, relabelled)
    cohort = relabelled / "cohort.tsv"
    rows = list(csv.DictReader(cohort.read_text().splitlines(), delimiter="\t"))
    swap = {"NC": "AD", "MCI": "NC", "AD": "MCI"}
    for r in rows:
        if r["participant_id"] in test:
            r["diagnosis"] = swap[r["diagnosis"]]
    with cohort.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter="\t", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    before = _synth(run, prepared, root / "labels-a", test)
    after = _synth(run, relabelled, root / "labels-b", test)
    assert before == after and len(before) == len(test)


def test_a_prior_fitted_on_a_test_subject_is_refused(disease_run: dict[str, Path]) -> None:
    run, prepared, root = disease_run["run"], disease_run["prepared"], disease_run["root"]
    tampered = root / "tampered-run"
    shutil.copytree(run, tampered)
    state = DiseaseState.load(tampered / STATE_FILE)
    test = _split(run)["test"]
    DiseaseState(state.classifiers, (*state.fitted_on, test[0])).save(tampered / STATE_FILE)
    out = root / "refused"
    with pytest.raises(InputError, match="outside the run's training split"):
        _synth(tampered, prepared, out, test)
    assert not out.exists()  # refused before OUT_DIR is created


def test_a_config_without_priors_needs_no_prior_files(tmp_path: Path) -> None:
    from pds_mri.disease.run_priors import load_run_priors
    from pds_mri.models.config import PDSConfig

    assert load_run_priors(tmp_path, PDSConfig(), None).empty  # an empty directory: nothing is read
    with pytest.raises(InputError, match=r"disease_state\.safetensors"):
        load_run_priors(tmp_path, PDSConfig(disease_state=True), None)


def test_evaluate_scores_the_training_folds_disease_region(disease_run: dict[str, Path]) -> None:
    from pds_mri.workflows.evaluate import run_evaluate

    run, prepared, root = disease_run["run"], disease_run["prepared"], disease_run["root"]
    synth = root / "for-eval"
    _synth(run, prepared, synth, _split(run)["test"])
    payload = run_evaluate(synth, prepared, root / "eval", run)
    assert all("disease" in r["region_means_real"] and "disease" in r["region_means_synth"] for r in payload["rows"])
    assert "training subjects" in payload["group_differences"]["disease_region"]
    plain = run_evaluate(synth, prepared, root / "eval-plain")
    assert all("disease" not in r["region_means_real"] for r in plain["rows"])


def test_the_disease_region_ignores_the_test_subjects_maps(disease_run: dict[str, Path]) -> None:
    import nibabel as nib
    import numpy as np

    from pds_mri.disease.pattern_map import fold_disease_regions

    run, prepared, root = disease_run["run"], disease_run["prepared"], disease_run["root"]
    split = _split(run)
    scrambled = root / "scrambled"
    shutil.copytree(prepared, scrambled)
    cohort = {r["participant_id"]: r for r in csv.DictReader((scrambled / "cohort.tsv").open(), delimiter="\t")}
    rng = np.random.default_rng(0)
    for pid in split["test"]:
        path = scrambled / cohort[pid]["dmri"]
        img = nib.load(path)
        noise = rng.uniform(-1, 1, img.shape).astype(np.float32)
        nib.save(nib.Nifti1Image(noise, img.affine, img.header), path)
    before = fold_disease_regions(prepared, split["train"])
    after = fold_disease_regions(scrambled, split["train"])
    assert all(np.array_equal(before[d], after[d]) for d in before) and any(m.any() for m in before.values())
