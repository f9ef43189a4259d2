"""`pds prepare` end to end on the tiny simulated cohort: outputs, spaces, provenance, safety."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from pds_mri.config import preset
from pds_mri.io import layout
from pds_mri.io.layout import COHORT_COLUMNS
from pds_mri.workflows.prepare import PrepareOptions, run_prepare


def _rows(prepared: Path) -> list[dict[str, str]]:
    return list(csv.DictReader((prepared / "cohort.tsv").read_text().splitlines(), delimiter="\t"))


def _digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()
    }


def test_cohort_index_lists_every_subject_with_relative_paths(prepared: Path, sim_bids: Path) -> None:
    rows = _rows(prepared)
    assert list(rows[0]) == list(COHORT_COLUMNS)
    assert len(rows) == 6
    assert any(not r["fmri"] for r in rows) and any(not r["dmri"] for r in rows)  # one modality is normal
    for r in rows:
        assert r["diagnosis"] in {"NC", "MCI", "AD"}
        for col in ("fmri", "dmri", "fmri_native", "dmri_native", "fmri_mask", "dmri_mask", "fmri_tissue"):
            if r[col]:
                assert not Path(r[col]).is_absolute() and (prepared / r[col]).is_file()
        assert bool(r["fmri"]) == bool(r["fmri_native"]) and r["fmri_mask"] and r["dmri_mask"]


def test_native_maps_keep_the_input_grid_and_model_maps_the_model_grid(prepared: Path, sim_bids: Path) -> None:
    config = preset("cpu")
    for r in _rows(prepared):
        sub = r["participant_id"]
        if r["fmri"]:
            bold = nib.load(next((sim_bids / sub / "func").glob("*_bold.nii.gz")))
            native = nib.load(prepared / r["fmri_native"])
            assert native.shape == bold.shape[:3] and np.allclose(native.affine, bold.affine)
            grid = nib.load(prepared / r["fmri"])
            assert grid.shape == config.grids.fmri.shape and np.allclose(grid.affine, config.grids.fmri.affine)
        if r["dmri"]:
            grid = nib.load(prepared / r["dmri"])
            assert grid.shape == config.grids.dmri.shape
            data = np.asarray(grid.dataobj)
            assert data.min() >= -1 and data.max() <= 1 and (data > 0).sum() > 100
        tissue = nib.load(prepared / r["dmri_tissue"])
        assert tissue.shape == (*config.grids.dmri.shape, 3)
        assert r["tissue_source"] == "T1w segmentation"


def test_normalisation_sidecar_inverts_to_input_units(prepared: Path) -> None:
    from pds_mri.config import preset
    from pds_mri.preprocess.normalise import Normalisation
    from pds_mri.preprocess.resample import to_grid

    r = next(r for r in _rows(prepared) if r["fmri"])
    sidecar = json.loads((prepared / r["fmri"].replace(".nii.gz", ".json")).read_text())
    norm = Normalisation.from_json(sidecar["Normalisation"])
    y = np.asarray(nib.load(prepared / r["fmri"]).dataobj)
    mask = np.asarray(nib.load(prepared / r["fmri_mask"]).dataobj) > 0
    x = np.asarray(to_grid(nib.load(prepared / r["fmri_native"]), preset("cpu").grids.fmri).dataobj)
    inside = mask & (x > norm.low) & (x < norm.high)
    assert inside.sum() > 50
    np.testing.assert_allclose(norm.invert(y)[inside], x[inside], rtol=1e-4, atol=1e-3 * abs(norm.high))


def test_provenance_and_atlas(prepared: Path) -> None:
    desc = json.loads((prepared / "dataset_description.json").read_text())
    generated = desc["GeneratedBy"][0]
    assert generated["Name"] == "pds-mri" and generated["Options"]["fmri_map"] == "mean"
    assert desc["DatasetType"] == "derivative" and "MNI152" in desc["Registration"]
    labels = np.asarray(nib.load(prepared / "tpl-fmrigrid/anat/tpl-fmrigrid_atlas-Dosenbach160_dseg.nii.gz").dataobj)
    assert set(np.unique(labels)) - {0} == set(range(1, 161))
    assert (prepared / "config.yaml").is_file()


def test_rerun_and_parallel_give_identical_files_and_never_touch_inputs(
    sim_bids: Path, prepared: Path, tmp_path: Path
) -> None:
    before = _digests(sim_bids)
    out = tmp_path / "again"
    run_prepare(PrepareOptions(bids_dir=sim_bids, out_dir=out, preset="cpu", n_jobs=2))
    run_prepare(PrepareOptions(bids_dir=sim_bids, out_dir=out, preset="cpu"))  # re-run on the same OUT_DIR
    assert _digests(sim_bids) == before
    ours, theirs = _digests(out), _digests(prepared)
    ours.pop("dataset_description.json"), theirs.pop("dataset_description.json")
    assert ours == theirs
    assert not [p for p in out.rglob("*") if ".part" in p.name]


@pytest.mark.parametrize(("fmri_map", "dmri_map"), [("alff", "fa"), ("falff", "md")])
def test_other_maps(sim_bids: Path, tmp_path: Path, fmri_map: str, dmri_map: str) -> None:
    sub = sorted(p.name for p in sim_bids.glob("sub-*"))[0]
    options = PrepareOptions(sim_bids, tmp_path / "o", participant_labels=(sub,), fmri_map=fmri_map, dmri_map=dmri_map)
    (row,) = run_prepare(options)
    for m, kind in (("fmri", fmri_map), ("dmri", dmri_map)):
        if row.get(m):
            assert f"desc-{kind}_{layout.map_suffix(m, kind)}.nii.gz" in row[m]


def test_output_inside_the_input_dataset_is_refused(sim_bids: Path) -> None:
    from pds_mri.errors import InputError

    with pytest.raises(InputError, match="inside the input"):
        run_prepare(PrepareOptions(bids_dir=sim_bids, out_dir=sim_bids / "sub-out"))


def test_map_precedence_is_flag_then_yaml_then_preset(tmp_path: Path) -> None:
    """Regression: the --fmri-map default ("mean") silently replaced a YAML's maps.fmri_map."""
    from pds_mri.workflows.prepare import resolve_config

    yaml = tmp_path / "maps.yaml"
    yaml.write_text("maps:\n  fmri_map: alff\n  dmri_map: fa\n")
    bids, out = tmp_path / "bids", tmp_path / "out"
    assert resolve_config(PrepareOptions(bids, out, config=yaml, preset="cpu")).maps.fmri_map == "alff"
    assert resolve_config(PrepareOptions(bids, out, config=yaml, preset="cpu")).maps.dmri_map == "fa"
    flagged = resolve_config(PrepareOptions(bids, out, config=yaml, preset="cpu", fmri_map="falff"))
    assert (flagged.maps.fmri_map, flagged.maps.dmri_map) == ("falff", "fa")
    preset = resolve_config(PrepareOptions(bids, out, preset="cpu"))
    assert (preset.maps.fmri_map, preset.maps.dmri_map) == ("mean", "mean")


def test_every_derivatives_input_is_a_source_dataset(tmp_path: Path) -> None:
    from pds_mri.workflows.prepare import _description, resolve_config

    options = PrepareOptions(
        tmp_path / "raw", tmp_path / "out", preset="cpu", derivatives=(tmp_path / "fmriprep", tmp_path / "qsi")
    )
    urls = [d["URL"] for d in _description(options, resolve_config(options), "none")["SourceDatasets"]]
    assert urls == [(tmp_path / name).resolve().as_uri() for name in ("raw", "fmriprep", "qsi")]


def test_each_custom_grid_space_is_declared_for_the_masks(prepared: Path) -> None:
    """BIDS-Derivatives requires a SpatialReference for a non-standard space: one top-level sidecar per grid,
    inherited by every subject's mask, names the atlas image that defines the grid."""
    from pds_mri.io.layout import grid_mask_sidecar

    for modality in ("fmri", "dmri"):
        sidecar = json.loads((prepared / grid_mask_sidecar(modality)).read_text())
        reference = prepared / sidecar["SpatialReference"].removeprefix("bids::")
        assert reference.is_file() and f"tpl-{modality}grid" in reference.name
        mask = next(prepared.glob(f"sub-*/anat/sub-*_space-{modality}grid_desc-brain_mask.nii.gz"))
        assert np.allclose(nib.load(mask).affine, nib.load(reference).affine)  # the same grid


def test_native_maps_name_their_input_scan_with_a_bids_uri(prepared: Path, sim_bids: Path) -> None:
    """Sources are BIDS URIs (`bids:raw:sub-X/func/...`), resolved through the description's DatasetLinks."""
    links = json.loads((prepared / "dataset_description.json").read_text())["DatasetLinks"]
    assert links["raw"] == sim_bids.resolve().as_uri()
    row = next(r for r in _rows(prepared) if r["fmri"])
    sidecar = json.loads((prepared / row["fmri_native"].replace(".nii.gz", ".json")).read_text())
    (source,) = sidecar["Sources"]
    assert source.startswith("bids:raw:sub-") and (sim_bids / source.removeprefix("bids:raw:")).is_file()
    grid = json.loads((prepared / row["fmri"].replace(".nii.gz", ".json")).read_text())
    assert grid["Sources"] == [f"bids::{row['fmri_native']}"] and grid["SkullStripped"] is True


def test_prepared_names_keep_the_input_entities(sim_bids: Path, tmp_path: Path) -> None:
    """acq- and run- of the input BOLD and DWI stay in every map of theirs (BIDS-Derivatives), and in func/ the
    task too; masks and tissue maps, made on the model grids for both modalities, go to anat/."""
    bids = tmp_path / "bids"
    shutil.copytree(sim_bids, bids)
    sub = next(p.name for p in sorted(bids.glob("sub-*")) if (p / "func").is_dir() and (p / "dwi").is_dir())
    for path in [*(bids / sub / "func").iterdir(), *(bids / sub / "dwi").iterdir()]:
        new = path.name.replace("task-rest_bold", "task-rest_acq-mb4_run-01_bold")
        path.rename(path.with_name(new.replace(f"{sub}_dwi", f"{sub}_acq-b1000_run-2_dwi")))
    (row,) = run_prepare(PrepareOptions(bids, tmp_path / "out", participant_labels=(sub,), preset="cpu"))
    assert row["fmri"] == f"{sub}/func/{sub}_task-rest_acq-mb4_run-01_space-fmrigrid_desc-mean_boldmap.nii.gz"
    assert row["dmri_native"] == f"{sub}/dwi/{sub}_acq-b1000_run-2_desc-mean_trace.nii.gz"
    assert row["fmri_mask"] == f"{sub}/anat/{sub}_space-fmrigrid_desc-brain_mask.nii.gz"
