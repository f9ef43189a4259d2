"""`prepared/` and `synthesized/` are BIDS-Derivatives datasets: pybids indexes every map with its entities, and
the schema-based BIDS validator (`bids-validator-deno`, slow: `make test-all` installs it) reports no error."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from pds_mri.io import layout
from pds_mri.workflows.prepare import PrepareOptions, run_prepare
from pds_mri.workflows.synthesize import SynthesizeOptions, run_synthesize
from pds_mri.workflows.train import TrainOptions, run_train
from tiny_setup import tiny_config

IMAGE_COLUMNS = {
    "prepared": ("fmri", "dmri", "fmri_native", "dmri_native", "fmri_mask", "dmri_mask", "fmri_tissue", "dmri_tissue"),
    "synthesized": ("synthesis", "synthesis_native", "uncertainty", "uncertainty_native", "samples"),
}


@pytest.fixture(scope="module")
def outputs(sim_bids: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny prepared/ and a synthesized/ holding both directions, with uncertainty and samples."""
    root = tmp_path_factory.mktemp("bids_outputs")
    config = root / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_config(stage1_steps=2, stage2_steps=1)))
    prepared, run, synth = root / "prepared", root / "run", root / "synthesized"
    run_prepare(PrepareOptions(bids_dir=sim_bids, out_dir=prepared, config=config))
    run_train(TrainOptions(prepared, run, config=config, seed=3))
    for direction in ("fmri2dmri", "dmri2fmri"):
        run_synthesize(SynthesizeOptions(run, prepared, synth, direction=direction, samples=2, save_samples=True))
    return {"prepared": prepared, "synthesized": synth}


def _rows(root: Path) -> list[dict[str, str]]:
    index = root / ("cohort.tsv" if (root / "cohort.tsv").is_file() else "synthesized.tsv")
    return list(csv.DictReader(index.read_text().splitlines(), delimiter="\t"))


@pytest.mark.parametrize("kind", ["prepared", "synthesized"])
def test_pybids_indexes_every_output_image_with_its_entities(outputs: dict[str, Path], kind: str) -> None:
    from bids import BIDSLayout

    root = outputs[kind]
    bids_layout = BIDSLayout(root, validate=False, is_derivative=True, config=["bids", "derivatives"])
    found = {Path(f.path).resolve(): f.get_entities() for f in bids_layout.get(extension=[".nii.gz"])}
    names = [r[c] for r in _rows(root) for c in IMAGE_COLUMNS[kind] if r.get(c)]
    assert names
    for name in names:
        entities = found[(root / name).resolve()]  # KeyError: pybids did not index it
        assert entities["subject"] == name.split("/")[0].removeprefix("sub-")
        folder = name.split("/")[-2]
        assert entities["datatype"] == folder and folder in ("func", "dwi", "anat")
        assert entities["suffix"] in ("boldmap", "FA", "ADC", "trace", "mask", "probseg")
        if folder == "func":
            assert entities["task"] == "rest"  # kept from the input's task-rest
        if entities["suffix"] not in ("probseg",):
            assert entities["desc"]
    if kind == "prepared":  # the atlas of each grid: a BIDS atlas (atlas- entity, _dseg)
        atlases = bids_layout.get(suffix="dseg", atlas=layout.ATLAS_LABEL, extension=".nii.gz")
        assert {Path(a.path).name for a in atlases} == {Path(layout.pattern_atlas(m)).name for m in ("fmri", "dmri")}


@pytest.mark.parametrize("kind", ["prepared", "synthesized"])
def test_each_output_is_a_derivative_dataset_without_lock_files(outputs: dict[str, Path], kind: str) -> None:
    root = outputs[kind]
    description = json.loads((root / "dataset_description.json").read_text())
    assert description["DatasetType"] == "derivative" and description["GeneratedBy"][0]["Name"] == "pds-mri"
    assert (root / ".bidsignore").read_text().splitlines() == list(layout.BIDSIGNORE)
    assert not [p for p in root.rglob("*") if "lock" in p.name or p.name.startswith(".staging")]


def test_every_synthesized_image_declares_its_space_and_sources(outputs: dict[str, Path]) -> None:
    root, prepared = outputs["synthesized"], outputs["prepared"]
    for row in _rows(root):
        for column in IMAGE_COLUMNS["synthesized"]:
            if not row[column]:
                continue
            sidecar = json.loads((root / row[column].replace(".nii.gz", ".json")).read_text())
            reference = sidecar["SpatialReference"].removeprefix("bids:prepared:")
            assert (prepared / reference).is_file()
            assert sidecar["Sources"] == [f"bids:prepared:{_source(prepared, row)}"]


def _source(prepared: Path, row: dict[str, str]) -> str:
    cohort = {layout.key_of(r): r for r in _rows(prepared)}
    return cohort[layout.key_of(row)][row["source"]]


def _validator() -> str | None:
    return os.environ.get("BIDS_VALIDATOR_DENO") or shutil.which("bids-validator-deno")


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["prepared", "synthesized"])
def test_schema_validator_reports_no_errors(outputs: dict[str, Path], kind: str) -> None:
    validator = _validator()
    if not validator:
        pytest.skip("bids-validator-deno not installed (make test-all installs it from PyPI into .tools/)")
    done = subprocess.run([validator, str(outputs[kind]), "--json"], capture_output=True, text=True, timeout=300)
    issues = json.loads(done.stdout)["issues"]["issues"]
    errors = [(i["code"], i.get("subCode"), i.get("location")) for i in issues if i["severity"] == "error"]
    assert errors == []
