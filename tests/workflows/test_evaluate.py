"""`pds evaluate` on a tiny trained run: rows, skips, the protocol in the JSON, an independent recomputation.

The tiny run (prepare → train → synthesise → evaluate) is built once per test session and shared by the
xdist workers through a file lock; test_report.py reuses it via `tiny_evaluated`.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import yaml
from filelock import FileLock
from test_train_synthesize import TINY

from pds_mri.cli import main
from pds_mri.errors import InputError, PdsError
from pds_mri.evaluation.metrics import PROTOCOL
from pds_mri.evaluation.regions import METRIC_COLUMNS, REGIONS
from pds_mri.io import layout
from pds_mri.workflows.evaluate import run_evaluate


def build_tiny_evaluated(root: Path, sim_bids: Path) -> dict[str, Path]:
    """root/{prepared, run}; inside the run: synth-f2d (--samples 2), synth-d2f, synth-auto, eval-f2d, eval-d2f."""
    from pds_mri.workflows.prepare import PrepareOptions, run_prepare
    from pds_mri.workflows.synthesize import SynthesizeOptions, run_synthesize
    from pds_mri.workflows.train import TrainOptions, run_train

    config = root / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY))
    prepared, run = root / "prepared", root / "run"
    run_prepare(PrepareOptions(bids_dir=sim_bids, out_dir=prepared, config=config))
    run_train(TrainOptions(prepared, run, config=config, seed=3))
    run_synthesize(SynthesizeOptions(run, prepared, run / "synth-f2d", direction="fmri2dmri", samples=2, seed=1))
    run_synthesize(SynthesizeOptions(run, prepared, run / "synth-d2f", direction="dmri2fmri", seed=1))
    run_synthesize(SynthesizeOptions(run, prepared, run / "synth-auto", seed=1))
    run_evaluate(run / "synth-f2d", prepared, run / "eval-f2d")
    run_evaluate(run / "synth-d2f", prepared, run / "eval-d2f")
    return {"prepared": prepared, "run": run, "root": root}


@pytest.fixture(scope="session")
def tiny_evaluated(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    worker = getattr(request.config, "workerinput", None)
    base = tmp_path_factory.getbasetemp()
    root = (base.parent if worker else base) / "tiny-evaluated"
    with FileLock(str(root) + ".lock"):
        done = root / "DONE"
        if not done.is_file():
            shutil.rmtree(root, ignore_errors=True)
            root.mkdir(parents=True)
            build_tiny_evaluated(root, request.getfixturevalue("sim_bids"))
            done.write_text("ok\n")
    return {"prepared": root / "prepared", "run": root / "run", "root": root}


def _tsv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.read_text().splitlines(), delimiter="\t"))


def test_rows_skips_and_protocol(tiny_evaluated: dict[str, Path]) -> None:
    run, prepared = tiny_evaluated["run"], tiny_evaluated["prepared"]
    cohort = {r["participant_id"]: r for r in _tsv(prepared / "cohort.tsv")}
    for direction, src, tgt, name in (("fmri2dmri", "fmri", "dmri", "f2d"), ("dmri2fmri", "dmri", "fmri", "d2f")):
        rows = _tsv(run / f"eval-{name}" / "metrics.tsv")
        payload = json.loads((run / f"eval-{name}" / "metrics.json").read_text())
        expected = {p for p, r in cohort.items() if r[src] and r[tgt]}
        assert {r["participant_id"] for r in rows} == expected and all(r["direction"] == direction for r in rows)
        lacking = {p for p, r in cohort.items() if r[src] and not r[tgt]}
        assert lacking, "the fixture cohort has a subject without each modality"
        assert payload["skipped"]["count"] == len(lacking)
        assert {s["participant_id"] for s in payload["skipped"]["rows"]} == lacking
        assert all(f"no real {tgt} map" in s["reason"] for s in payload["skipped"]["rows"])
        # the protocol is written verbatim, with the region definitions
        assert {k: payload["protocol"][k] for k in PROTOCOL} == PROTOCOL
        assert payload["protocol"]["regions"] == REGIONS
        stats = payload["summary"][direction]
        assert stats["subjects"] == len(rows)
        for metric in ("psnr", "ssim", "mae", "pattern_mae", "gm_mae", "wm_mae"):
            values = [float(r[metric]) for r in rows]
            assert stats[metric]["n"] == len(values)
            assert stats[metric]["mean"] == pytest.approx(np.mean(values), rel=1e-4)
            assert stats[metric]["std"] == pytest.approx(np.std(values, ddof=1), rel=1e-3, abs=1e-6)
        for row in rows:
            assert 0 < float(row["ssim"]) <= 1 and 0 <= float(row["mae"]) <= 1 and int(row["n_brain"]) > 0
            assert int(row["n_pattern"]) > 0 and int(row["n_gm"]) > 0 and int(row["n_wm"]) > 0
        # --samples 2 for fmri2dmri: the uncertainty is recorded; one sample: it is not
        uncertainty = [r["uncertainty_mean"] for r in rows]
        assert all(u != "n/a" and float(u) >= 0 for u in uncertainty) if name == "f2d" else set(uncertainty) == {"n/a"}
        assert set(payload["metrics"]) == set(METRIC_COLUMNS)
        # regional means of the real map and the synthesis for the group-difference metric, and its table
        assert all({"brain", "gm", "wm", "csf", "net-default"} <= set(r["region_means_real"]) for r in payload["rows"])
        assert (run / f"eval-{name}" / "group_differences.tsv").is_file()
        assert payload["group_differences"]["protocol"]["contrasts"] == ["AD-NC", "MCI-NC"]


def test_metrics_agree_with_an_independent_numpy_recomputation(tiny_evaluated: dict[str, Path]) -> None:
    run, prepared = tiny_evaluated["run"], tiny_evaluated["prepared"]
    cohort = {r["participant_id"]: r for r in _tsv(prepared / "cohort.tsv")}
    row = _tsv(run / "eval-f2d" / "metrics.tsv")[0]
    synth = {r["participant_id"]: r for r in _tsv(run / "synth-f2d" / "synthesized.tsv")}[row["participant_id"]]
    real_row = cohort[row["participant_id"]]

    def load(path: Path) -> np.ndarray:
        return np.asarray(nib.load(path).dataobj, dtype=np.float64)

    pred = (np.clip(load(run / "synth-f2d" / synth["synthesis"]), -1, 1) + 1) / 2
    real = (np.clip(load(prepared / real_row["dmri"]), -1, 1) + 1) / 2
    mask = load(prepared / real_row["dmri_mask"]) > 0.5
    pattern = load(prepared / layout.pattern_atlas("dmri")) > 0
    tissue = load(prepared / real_row["dmri_tissue"])
    err = pred - real
    assert float(row["psnr"]) == pytest.approx(10 * np.log10(1 / np.mean(err[mask] ** 2)), rel=1e-4)
    assert float(row["mae"]) == pytest.approx(np.mean(np.abs(err[mask])), rel=1e-4)
    assert float(row["pattern_mae"]) == pytest.approx(np.mean(np.abs(err[mask & pattern])), rel=1e-4)
    wm = mask & (tissue.argmax(axis=3) == 1) & (tissue.max(axis=3) > 0.5)
    assert int(row["n_wm"]) == wm.sum()
    assert float(row["wm_mae"]) == pytest.approx(np.mean(np.abs(err[wm])), rel=1e-4)


def test_nothing_scorable_missing_tsv_and_wrong_shape_are_clear_errors(
    tiny_evaluated: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run, prepared = tiny_evaluated["run"], tiny_evaluated["prepared"]
    # `auto` synthesises only what subjects lack: nothing has a real target
    with pytest.raises(PdsError, match="--direction"):
        run_evaluate(run / "synth-auto", prepared, tmp_path / "e1")
    assert not (tmp_path / "e1" / "metrics.json").exists()
    assert main(["evaluate", str(tmp_path / "nowhere"), str(prepared), str(tmp_path / "e2")]) == 2
    assert "synthesized.tsv" in capsys.readouterr().err
    broken = tmp_path / "synth"
    shutil.copytree(run / "synth-f2d", broken)
    row = _tsv(broken / "synthesized.tsv")[0]
    nib.save(nib.Nifti1Image(np.zeros((5, 5, 5), np.float32), np.eye(4)), broken / row["synthesis"])
    with pytest.raises(InputError, match=r"shape \(5, 5, 5\) does not match"):
        run_evaluate(broken, prepared, tmp_path / "e3")


def test_uncertainty_calibration_columns(tiny_evaluated: dict[str, Path]) -> None:
    """Appended after the old columns; values where --samples > 1 wrote a std map, n/a elsewhere; recomputed."""
    from pds_mri.evaluation.calibration import CALIBRATION_COLUMNS, edge_interior
    from pds_mri.evaluation.regions import VOXEL_COLUMNS
    from pds_mri.workflows.evaluate import ROW_COLUMNS

    run, prepared = tiny_evaluated["run"], tiny_evaluated["prepared"]
    header = (run / "eval-f2d" / "metrics.tsv").read_text().splitlines()[0].split("\t")
    assert header == [*ROW_COLUMNS, *METRIC_COLUMNS, *VOXEL_COLUMNS, *CALIBRATION_COLUMNS]
    f2d = _tsv(run / "eval-f2d" / "metrics.tsv")
    for row in f2d:
        assert 0 <= float(row["coverage_1sd"]) <= float(row["coverage_2sd"]) <= 1
        assert int(row["n_interior"]) + int(row["n_edge"]) == int(row["n_brain"])
    assert all(set(r[c] for c in CALIBRATION_COLUMNS) == {"n/a"} for r in _tsv(run / "eval-d2f" / "metrics.tsv"))
    payload = json.loads((run / "eval-f2d" / "metrics.json").read_text())
    assert payload["calibration"]["columns"] == list(CALIBRATION_COLUMNS)
    assert payload["protocol"]["calibration"]["edge"].startswith("brain-mask voxels")
    pooled = payload["calibration"]["directions"]["fmri2dmri"]
    assert pooled["subjects"] == len(f2d) and pooled["brain"]["voxels"] == sum(int(r["n_brain"]) for r in f2d)
    assert sum(b["n"] for b in pooled["brain"]["curve"]) == pooled["brain"]["voxels"]
    assert payload["summary"]["fmri2dmri"]["coverage_2sd"]["n"] == len(f2d)
    assert json.loads((run / "eval-d2f" / "metrics.json").read_text())["calibration"]["directions"] == {}
    # an independent recomputation of one row
    row = f2d[0]
    synth = {r["participant_id"]: r for r in _tsv(run / "synth-f2d" / "synthesized.tsv")}[row["participant_id"]]
    real_row = {r["participant_id"]: r for r in _tsv(prepared / "cohort.tsv")}[row["participant_id"]]

    def load(path: Path) -> np.ndarray:
        return np.asarray(nib.load(path).dataobj, dtype=np.float64)

    pred = (np.clip(load(run / "synth-f2d" / synth["synthesis"]), -1, 1) + 1) / 2
    real = (np.clip(load(prepared / real_row["dmri"]), -1, 1) + 1) / 2
    std = load(run / "synth-f2d" / synth["uncertainty"]) / 2
    mask = load(prepared / real_row["dmri_mask"]) > 0.5
    err = np.abs(pred - real)
    assert float(row["coverage_2sd"]) == pytest.approx(np.mean(err[mask] <= 2 * std[mask]), abs=1e-5)
    edge, interior = edge_interior(mask)
    assert int(row["n_edge"]) == edge.sum()
    from scipy.stats import spearmanr

    expected = spearmanr(std[interior], err[interior]).statistic
    assert float(row["uncertainty_spearman_interior"]) == pytest.approx(expected, abs=1e-4)
