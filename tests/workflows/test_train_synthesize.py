"""`pds train` and `pds synthesize` end to end on tiny grids and a tiny model (real code paths)."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import yaml

from pds_mri.cli import main
from pds_mri.errors import PdsError
from pds_mri.workflows.prepare import PrepareOptions, run_prepare
from pds_mri.workflows.synthesize import SynthesizeOptions, run_synthesize
from pds_mri.workflows.train import TrainOptions, run_train
from tiny_setup import tiny_config

TINY = tiny_config(stage1_steps=4, stage2_steps=2)


@pytest.fixture(scope="module")
def tiny(sim_bids: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny")
    config = root / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY))
    prepared = root / "prepared"
    run_prepare(PrepareOptions(bids_dir=sim_bids, out_dir=prepared, config=config))
    run = root / "run"
    run_train(TrainOptions(prepared, run, config=config, seed=3))
    return {"config": config, "prepared": prepared, "run": run, "root": root}


def _tsv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.read_text().splitlines(), delimiter="\t"))


def test_train_writes_split_checkpoints_logs_and_model_card(tiny: dict[str, Path]) -> None:
    run = tiny["run"]
    split = json.loads((run / "split.json").read_text())
    sets = [set(split[k]) for k in ("train", "val", "test")]
    assert sets[0] and not (sets[0] & sets[1]) and not (sets[0] & sets[2]) and not (sets[1] & sets[2])
    paired = {r["participant_id"] for r in _tsv(tiny["prepared"] / "cohort.tsv") if r["fmri"] and r["dmri"]}
    assert set().union(*sets) == paired  # only subjects with both modalities are trained on
    for stage in ("stage1", "stage2"):
        last = run / stage / "checkpoints" / "last"
        assert (last / "tensors.safetensors").is_file() and (last / "state.json").is_file()
        assert not list((run / stage).rglob("*.pt")) and not list((run / stage).rglob("*.pkl"))
        assert (run / stage / "logs" / "train.csv").is_file()
    card = (run / "MODEL_CARD.md").read_text()
    assert "not diagnostic images" in card and "validation PSNR" in card
    assert yaml.safe_load((run / "config.yaml").read_text())["grids"]["fmri"]["shape"] == [12, 12, 8]


def test_synthesize_auto_fills_exactly_what_is_missing(tiny: dict[str, Path], sim_bids: Path) -> None:
    out = tiny["root"] / "synth"
    run_synthesize(SynthesizeOptions(tiny["run"], tiny["prepared"], out, samples=2, seed=5))
    cohort = {r["participant_id"]: r for r in _tsv(tiny["prepared"] / "cohort.tsv")}
    rows = _tsv(out / "synthesized.tsv")
    expected = {
        (p, "fmri2dmri" if not r["dmri"] else "dmri2fmri")
        for p, r in cohort.items()
        if bool(r["fmri"]) != bool(r["dmri"])
    }
    assert {(r["participant_id"], r["direction"]) for r in rows} == expected and expected
    for r in rows:
        source_native = nib.load(tiny["prepared"] / cohort[r["participant_id"]][f"{r['source']}_native"])
        native = nib.load(out / r["synthesis_native"])
        # the synthesis overlays the subject's real scan: same shape and affine as its native source map
        assert native.shape == source_native.shape and np.allclose(native.affine, source_native.affine)
        grid = np.asarray(nib.load(out / r["synthesis"]).dataobj)
        assert grid.min() >= -1 and grid.max() <= 1
        std = np.asarray(nib.load(out / r["uncertainty"]).dataobj)
        assert std.min() >= 0 and std.max() > 0 and (out / r["uncertainty_native"]).is_file()
        sidecar = json.loads((out / r["sidecar"]).read_text())
        assert len(sidecar["Checkpoint"]["sha256"]) == 64 and sidecar["Samples"] == 2 and sidecar["Seed"] == 5
        assert sidecar["Normalisation"]["origin"].startswith("median of")
        # the source as a BIDS URI through DatasetLinks, and as an absolute path any working directory can open
        links = json.loads((out / "dataset_description.json").read_text())["DatasetLinks"]
        (uri,) = sidecar["Sources"]
        name, relative = uri.removeprefix("bids:").split(":", 1)
        linked = Path(links[name].removeprefix("file://")) / relative
        assert linked.is_file() and linked == Path(sidecar["Source"]) and Path(sidecar["Source"]).is_absolute()
        assert relative == cohort[r["participant_id"]][r["source"]] and Path(sidecar["NativeReference"]).is_file()


def test_synthesize_is_deterministic_with_a_seed_and_explicit_direction(tiny: dict[str, Path]) -> None:
    outs = []
    for name, seed, mode in (("a", 1, "sample"), ("b", 1, "sample"), ("c", 2, "sample"), ("d", 2, "mean")):
        out = tiny["root"] / f"det-{name}"
        options = SynthesizeOptions(tiny["run"], tiny["prepared"], out, direction="fmri2dmri", seed=seed, mode=mode)
        run_synthesize(options)
        outs.append({p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in out.rglob("*.nii.gz")})
    assert outs[0] == outs[1] and outs[0] != outs[2]  # a sample is fixed by its seed
    mean_1 = tiny["root"] / "det-e"
    run_synthesize(SynthesizeOptions(tiny["run"], tiny["prepared"], mean_1, direction="fmri2dmri", seed=1))
    mean_files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in mean_1.rglob("*.nii.gz")}
    assert mean_files == outs[3]  # the mean readout starts from x_T = 0: the same for every seed
    rows = _tsv(tiny["root"] / "det-a" / "synthesized.tsv")
    assert rows and all(r["direction"] == "fmri2dmri" and r["uncertainty"] == "" for r in rows)


def test_fresh_train_refuses_an_existing_run_and_resume_of_a_finished_run_is_a_no_op(tiny: dict[str, Path]) -> None:
    run = tiny["run"]
    before = hashlib.sha256((run / "stage2/checkpoints/last/tensors.safetensors").read_bytes()).hexdigest()
    assert main(["train", str(tiny["prepared"]), str(run), "--config", str(tiny["config"]), "--seed", "3"]) == 2
    run_train(TrainOptions(tiny["prepared"], run, config=tiny["config"], seed=3, resume=True))
    after = hashlib.sha256((run / "stage2/checkpoints/last/tensors.safetensors").read_bytes()).hexdigest()
    assert before == after


def test_unknown_model_and_missing_run_are_clear_errors(tiny: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    assert main(["train", str(tiny["prepared"]), str(tiny["root"] / "x"), "--model", "gan"]) == 2
    assert "'gan' is not a model" in capsys.readouterr().err  # refused at parse time
    assert main(["synthesize", str(tiny["root"] / "nope"), str(tiny["prepared"]), str(tiny["root"] / "y")]) == 2
    assert "config.yaml missing" in capsys.readouterr().err
    assert not (tiny["root"] / "y").exists()  # a refused synthesis creates no OUT_DIR


@pytest.mark.distributed
def test_torchrun_synthesis_shards_subjects_and_matches_one_process(tiny: dict[str, Path]) -> None:
    import subprocess
    import sys

    single, multi = tiny["root"] / "one-proc", tiny["root"] / "two-proc"
    run_synthesize(SynthesizeOptions(tiny["run"], tiny["prepared"], single, direction="dmri2fmri", seed=4))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "pds_mri.cli"]
    args = [
        "synthesize",
        str(tiny["run"]),
        str(tiny["prepared"]),
        str(multi),
        "--direction",
        "dmri2fmri",
        "--seed",
        "4",
    ]
    done = subprocess.run(cmd + args, capture_output=True, text=True, timeout=240, env=_one_thread_env())
    assert done.returncode == 0, done.stderr[-2000:]

    def digests(root: Path) -> dict[str, str]:
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*.nii.gz")}

    assert digests(single) == digests(multi) and len(digests(single)) >= 2
    assert (multi / "synthesized.tsv").read_text() == (single / "synthesized.tsv").read_text()


def _one_thread_env() -> dict[str, str]:
    import os

    return {**os.environ, "OMP_NUM_THREADS": "1"}


def test_successive_calls_into_one_out_dir_build_one_index(tiny: dict[str, Path]) -> None:
    out = tiny["root"] / "both-directions"
    first = run_synthesize(SynthesizeOptions(tiny["run"], tiny["prepared"], out, direction="fmri2dmri"))
    second = run_synthesize(SynthesizeOptions(tiny["run"], tiny["prepared"], out, direction="dmri2fmri"))
    rows = _tsv(out / "synthesized.tsv")
    assert len(rows) == len(first) + len(second)
    assert {r["direction"] for r in rows} == {"fmri2dmri", "dmri2fmri"}
    run_synthesize(SynthesizeOptions(tiny["run"], tiny["prepared"], out, direction="dmri2fmri", seed=9))
    assert len(_tsv(out / "synthesized.tsv")) == len(rows)  # re-synthesised rows replace, not duplicate


def test_a_crafted_cohort_cannot_write_outside_out_dir(tiny: dict[str, Path], tmp_path: Path) -> None:
    import shutil

    from pds_mri.errors import InputError

    prepared = tmp_path / "prepared"
    shutil.copytree(tiny["prepared"], prepared)
    index = prepared / "cohort.tsv"
    lines = index.read_text().splitlines()
    pid = lines[1].split("\t")[0]
    index.write_text("\n".join([lines[0], lines[1].replace(pid, "../../escaped", 1), *lines[2:]]) + "\n")
    with pytest.raises(InputError, match="not a valid label"):
        run_synthesize(SynthesizeOptions(tiny["run"], prepared, tmp_path / "a" / "out"))
    assert not list(tmp_path.rglob("escaped*"))


def test_a_second_synthesize_into_a_busy_out_dir_is_refused(tiny: dict[str, Path], tmp_path: Path) -> None:
    from pds_mri.errors import PdsError
    from pds_mri.io.atomic import output_lock

    out = tmp_path / "busy"
    with output_lock(out, "synthesize"), pytest.raises(PdsError, match="in use"):
        run_synthesize(SynthesizeOptions(tiny["run"], tiny["prepared"], out))
    assert not (out / "synthesized.tsv").exists()


def test_synthesis_mode_is_recorded_and_mean_is_the_default(tiny: dict[str, Path]) -> None:
    modes = {}
    for mode in (None, "mean", "sample"):
        out = tiny["root"] / f"mode-{mode}"
        run_synthesize(SynthesizeOptions(tiny["run"], tiny["prepared"], out, direction="fmri2dmri", mode=mode))
        rows = _tsv(out / "synthesized.tsv")
        sidecar = json.loads((out / rows[0]["sidecar"]).read_text())
        assert {r["mode"] for r in rows} == {sidecar["Mode"]}
        assert sidecar["NetworkEvaluations"] == (1 if sidecar["Mode"] == "mean" else sidecar["Steps"])
        modes[mode] = (sidecar["Mode"], {p.name: p.read_bytes() for p in out.rglob("*grid_desc-*Synth_*.nii.gz")})
    assert modes[None] == modes["mean"] and modes["mean"][0] == "mean"
    assert modes["sample"][0] == "sample" and modes["sample"][1] != modes["mean"][1]
    with pytest.raises(PdsError, match="--mode"):
        run_synthesize(SynthesizeOptions(tiny["run"], tiny["prepared"], tiny["root"] / "bad", mode="median"))
    assert not (tiny["root"] / "bad").exists()  # refused before anything is written


def _tree_hashes(root: Path) -> dict[str, str]:
    files = (p for p in root.rglob("*") if p.is_file())
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def test_a_refused_train_changes_nothing_in_the_run(tiny: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    """Regression: a fresh `pds train` into an existing run used to rewrite config.yaml, model.json, split.json
    and normalisation.json before refusing, so trained subjects became test subjects and --resume broke."""
    run = tiny["run"]
    before = _tree_hashes(run)
    args = ["train", str(tiny["prepared"]), str(run), "--config", str(tiny["config"])]
    assert main([*args, "--seed", "7"]) == 2  # fresh train into a run: refused
    assert "already holds a training run" in capsys.readouterr().err
    assert main([*args, "--seed", "7", "--resume"]) == 2  # a resume that would change the seed: refused
    assert "training.stage1.seed" in capsys.readouterr().err
    assert _tree_hashes(run) == before
    assert main([*args, "--seed", "3", "--resume"]) == 0  # the run's own options: a finished run is a no-op
    after = _tree_hashes(run)
    kept = [k for k in before if "checkpoints" in k or k in ("config.yaml", "model.json", "split.json")]
    assert kept and all(after[k] == before[k] for k in kept)


def test_synthesis_is_label_free_unless_asked(tiny: dict[str, Path]) -> None:
    """Imputed maps conditioned on the label make group statistics on them circular: off by default."""
    used = {}
    for name, flag in (("default", []), ("with", ["--use-diagnosis"])):
        out = tiny["root"] / f"dx-{name}"
        args = ["synthesize", str(tiny["run"]), str(tiny["prepared"]), str(out), "--direction", "fmri2dmri"]
        assert main([*args, *flag]) == 0
        sidecars = [json.loads((out / r["sidecar"]).read_text()) for r in _tsv(out / "synthesized.tsv")]
        used[name] = {s["DiagnosisUsed"] for s in sidecars}
    assert used["default"] == {False}
    assert True in used["with"]  # subjects with a known diagnosis are conditioned on it when asked


def test_save_samples_writes_the_posterior_samples_behind_the_estimate(tiny: dict[str, Path]) -> None:
    out = tiny["root"] / "with-samples"
    options = SynthesizeOptions(
        tiny["run"], tiny["prepared"], out, direction="fmri2dmri", samples=3, mode="sample", save_samples=True
    )
    run_synthesize(options)
    for row in _tsv(out / "synthesized.tsv"):
        samples = np.asarray(nib.load(out / row["samples"]).dataobj)
        estimate = np.asarray(nib.load(out / row["synthesis"]).dataobj)
        std = np.asarray(nib.load(out / row["uncertainty"]).dataobj)
        assert samples.shape == (*estimate.shape, 3)
        # sample mode: the estimate is the samples' voxel-wise mean and the std is theirs
        assert np.allclose(samples.mean(-1), estimate, atol=1e-5)
        assert np.allclose(samples.std(-1), std, atol=1e-5)
        assert json.loads((out / row["sidecar"]).read_text())["SamplesFile"] == row["samples"]
    plain = tiny["root"] / "without-samples"
    run_synthesize(SynthesizeOptions(tiny["run"], tiny["prepared"], plain, direction="fmri2dmri", samples=2))
    assert all(r["samples"] == "" for r in _tsv(plain / "synthesized.tsv"))


def test_validation_synthesises_without_the_diagnosis(tiny: dict[str, Path]) -> None:
    """Model selection must match deployment: validation is label-free like `pds synthesize` and the benchmark."""
    import torch

    from pds_mri.families.pds import PdsSynthesizer
    from pds_mri.training.data import PreparedCohort
    from pds_mri.training.validation import make_validate
    from pds_mri.workflows.run import load_run_config

    config = load_run_config(tiny["run"])
    ids = [r["participant_id"] for r in _tsv(tiny["prepared"] / "cohort.tsv") if r["fmri"] and r["dmri"]]
    seen: list[torch.Tensor] = []

    class Spy(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = torch.nn.Parameter(torch.zeros(1))

        def synthesize(self, batch, *args, **kwargs):  # type: ignore[no-untyped-def]
            seen.append(batch["diagnosis"].clone())
            return batch["source"].clone(), torch.zeros_like(batch["source"])

    holder = torch.nn.Module()
    holder.pds = Spy()
    validate = make_validate(
        PreparedCohort(tiny["prepared"], ids[:2]), config, lambda model: PdsSynthesizer(model.pds, config)
    )
    out = validate(holder, 1)
    assert seen and all(bool((d == -1).all()) for d in seen) and "psnr" in out


def test_a_train_refused_for_its_cohort_creates_no_run_dir(tiny: dict[str, Path], tmp_path: Path) -> None:
    prepared = tmp_path / "one-subject"
    prepared.mkdir()
    (prepared / "config.yaml").write_text((tiny["prepared"] / "config.yaml").read_text())
    rows = (tiny["prepared"] / "cohort.tsv").read_text().splitlines()
    (prepared / "cohort.tsv").write_text("\n".join(rows[:2]) + "\n")  # header + one subject
    run = tmp_path / "run"
    assert main(["train", str(prepared), str(run), "--config", str(tiny["config"])]) == 2
    assert not run.exists()


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        ({"maps": {"dmri_map": "fa"}}, "maps.dmri_map"),
        ({"maps": {"norm_percentiles": [1.0, 99.0]}}, "maps.norm_percentiles"),
        ({"grids": {"fmri": {"voxel_mm": [15.0, 16.0, 18.0]}}}, "grids.fmri.voxel_mm"),
        # the mean fMRI map drops the non-steady-state volumes too: a different count was accepted before
        ({"maps": {"dummy_scans": 7}}, "maps.dummy_scans"),
        ({"maps": {"b0_threshold": 150.0}}, "maps.b0_threshold"),  # so does the mean dMRI map's b0 threshold
    ],
)
def test_synthesize_refuses_an_input_prepared_unlike_the_training_maps(
    tiny: dict[str, Path], edit: dict, field: str
) -> None:
    import shutil

    from pds_mri.workflows.run import apply_overrides

    other = tiny["root"] / f"other-{field}"
    shutil.copytree(tiny["prepared"], other)
    values = yaml.safe_load((other / "config.yaml").read_text())
    (other / "config.yaml").write_text(yaml.safe_dump(apply_overrides(values, edit)))
    out = tiny["root"] / f"refused-{field}"
    with pytest.raises(PdsError, match=field.replace(".", r"\.")):
        run_synthesize(SynthesizeOptions(tiny["run"], other, out, direction="fmri2dmri"))
    assert not out.exists()


def test_a_checkpoint_with_non_finite_weights_is_refused_before_synthesis(tiny: dict[str, Path]) -> None:
    import hashlib
    import shutil

    import torch
    from safetensors.torch import load_file, save_file

    run = tiny["root"] / "nan-run"
    shutil.copytree(tiny["run"], run)
    for stage in ("stage1", "stage2"):
        for ckpt in (run / stage / "checkpoints").iterdir():
            tensors_path = ckpt / "tensors.safetensors"
            tensors = load_file(str(tensors_path))
            ema = next(k for k, v in tensors.items() if k.startswith("ema") and v.is_floating_point())
            tensors[ema] = torch.full_like(tensors[ema], float("nan"))
            save_file(tensors, str(tensors_path))  # re-signed, as a bad training step would have written it
            state = json.loads((ckpt / "state.json").read_text())
            blob = tensors_path.read_bytes()
            state |= {"tensors_sha256": hashlib.sha256(blob).hexdigest(), "tensors_bytes": len(blob)}
            (ckpt / "state.json").write_text(json.dumps(state))
    out = tiny["root"] / "nan-synth"
    with pytest.raises(PdsError, match="not finite"):
        run_synthesize(SynthesizeOptions(run, tiny["prepared"], out, direction="fmri2dmri"))
    assert not out.exists()


def test_an_exported_model_synthesises_like_its_run_and_damage_is_refused(
    tiny: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """#14 item 8: `pds export` packs only what synthesis needs; the archive gives the run's files byte for
    byte; a tampered or crafted archive is one line and writes nothing."""
    import zipfile

    from pds_mri.cli import main

    archive = tmp_path / "model.zip"
    assert main(["export", str(tiny["run"]), str(archive)]) == 0
    names = zipfile.ZipFile(archive).namelist()
    assert "pds_model.json" in names and "config.yaml" in names and "split.json" in names
    assert any(n.startswith("stage1/checkpoints/") for n in names)
    assert not any("/logs/" in n or "step-" in n for n in names)  # no logs, no intermediate checkpoints
    assert main(["export", str(tiny["run"]), str(archive)]) == 2  # never overwritten

    label = _tsv(tiny["prepared"] / "cohort.tsv")[0]["participant_id"]
    common = ["--direction", "dmri2fmri", "--participant-label", label, "--seed", "2"]
    from_run, from_zip = tmp_path / "from-run", tmp_path / "from-zip"
    assert main(["synthesize", str(tiny["run"]), str(tiny["prepared"]), str(from_run), *common]) == 0
    assert main(["synthesize", str(archive), str(tiny["prepared"]), str(from_zip), *common]) == 0
    (row,) = _tsv(from_zip / "synthesized.tsv")
    assert (from_zip / row["synthesis"]).read_bytes() == (from_run / row["synthesis"]).read_bytes()
    description = json.loads((from_zip / "dataset_description.json").read_text())
    assert description["DatasetLinks"]["run"] == archive.resolve().as_uri()

    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(archive) as src, zipfile.ZipFile(tampered, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            dst.writestr(name, data + b" " if name == "config.yaml" else data)
    crafted = tmp_path / "crafted.zip"
    with zipfile.ZipFile(archive) as src, zipfile.ZipFile(crafted, "w") as dst:
        for name in src.namelist():
            dst.writestr(name, src.read(name))
        dst.writestr("../escape.txt", b"x")
    capsys.readouterr()
    for bad, problem in ((tampered, "does not match its SHA-256"), (crafted, "outside the model folder")):
        out = tmp_path / f"out-{bad.stem}"
        assert main(["synthesize", str(bad), str(tiny["prepared"]), str(out), *common]) == 2
        err = capsys.readouterr().err.strip()
        assert problem in err and str(bad) in err and len(err.splitlines()) == 1 and not out.exists()
    assert not (tmp_path.parent / "escape.txt").exists()


def test_calibrate_fits_on_validation_subjects_and_synthesize_applies_the_scale(
    tiny: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """#15 item 4: the scale is fitted on the split's validation subjects only, multiplies the std exactly,
    is recorded in the sidecar, can be switched off, and a scale file listing another subject is refused."""
    import shutil

    from pds_mri.cli import main

    run = tmp_path / "run"
    shutil.copytree(tiny["run"], run)  # the module's run stays uncalibrated for the other tests
    assert main(["calibrate", str(run), str(tiny["prepared"]), "--samples", "1"]) == 2  # a std needs 2
    assert main(["calibrate", str(run), str(tiny["prepared"]), "--samples", "2"]) == 0
    scale_file = run / "uncertainty_scale.json"
    data = json.loads(scale_file.read_text())
    split = json.loads((run / "split.json").read_text())
    assert data["fitted_on"] and set(data["fitted_on"]) <= set(split["val"])
    assert not set(data["fitted_on"]) & (set(split["test"]) | set(split["train"]))
    for numbers in data["directions"].values():
        assert numbers["scale"] > 0 and numbers["coverage_2sd_after"] >= 0.9545 - 1e-9

    label = data["fitted_on"][0]
    common = ["--direction", "fmri2dmri", "--participant-label", label, "--samples", "2", "--seed", "4"]
    scaled, raw = tmp_path / "scaled", tmp_path / "raw"
    assert main(["synthesize", str(run), str(tiny["prepared"]), str(scaled), *common]) == 0
    assert main(["synthesize", str(run), str(tiny["prepared"]), str(raw), *common, "--no-uncertainty-scale"]) == 0
    (row,) = _tsv(scaled / "synthesized.tsv")
    s = data["directions"]["fmri2dmri"]["scale"]
    std_scaled = np.asarray(nib.load(scaled / row["uncertainty"]).dataobj)
    std_raw = np.asarray(nib.load(raw / row["uncertainty"]).dataobj)
    assert std_raw.max() > 0 and np.allclose(std_scaled, s * std_raw, rtol=1e-5, atol=1e-7)
    assert (scaled / row["synthesis"]).read_bytes() == (raw / row["synthesis"]).read_bytes()  # only the std
    assert json.loads((scaled / row["sidecar"]).read_text())["UncertaintyScale"]["Value"] == pytest.approx(s)
    assert json.loads((raw / row["sidecar"]).read_text())["UncertaintyScale"] is None

    leaky = json.loads(scale_file.read_text())
    leaky["fitted_on"].append(split["train"][0])
    scale_file.write_text(json.dumps(leaky))
    capsys.readouterr()
    out = tmp_path / "refused"
    assert main(["synthesize", str(run), str(tiny["prepared"]), str(out), *common]) == 2
    err = capsys.readouterr().err.strip()
    assert "not validation subjects" in err and str(scale_file) in err and len(err.splitlines()) == 1
    scale_file.write_text("{broken")
    assert main(["synthesize", str(run), str(tiny["prepared"]), str(out), *common]) == 2
    assert str(scale_file) in capsys.readouterr().err and not out.exists()
    stale = dict(data, checkpoint={**data["checkpoint"], "sha256": "0" * 64})  # training went on since
    scale_file.write_text(json.dumps(stale))
    assert main(["synthesize", str(run), str(tiny["prepared"]), str(out), *common]) == 2
    err = capsys.readouterr().err.strip()
    assert "fitted on checkpoint 000000000000" in err and str(scale_file) in err and len(err.splitlines()) == 1
    assert not out.exists()
    scale_file.write_text(json.dumps(dict(data, samples=8)))  # another N: applied, with a warning
    assert main(["synthesize", str(run), str(tiny["prepared"]), str(out), *common]) == 0
    assert "fitted with --samples 8" in capsys.readouterr().err
