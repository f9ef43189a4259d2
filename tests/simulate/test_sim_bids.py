"""The cohort on disk: BIDS that pybids reads, honest participants.tsv, missing modalities, headers,
byte-identical reruns."""

from __future__ import annotations

import csv
import hashlib
import json
from collections import Counter
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from pds_mri.errors import InputError, PdsError
from pds_mri.simulate import simulate_cohort
from pds_mri.simulate.cohort import missing_sets

N = 6


def _hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def cohort(tmp_path_factory, tiny) -> tuple[Path, list[dict], list[int]]:
    out = tmp_path_factory.mktemp("sim") / "bids"
    calls: list[int] = []
    rows = simulate_cohort(out, tiny, N, seed=3, missing_fmri=1 / 3, missing_dmri=1 / 6, progress=calls.append)
    return out, rows, calls


def test_participants_tsv_and_rows(cohort) -> None:
    out, rows, calls = cohort
    assert calls == [1] * N  # one increment per subject written
    with (out / "participants.tsv").open() as fh:
        table = list(csv.DictReader(fh, delimiter="\t"))
    assert [r["participant_id"] for r in table] == [f"sub-{k:03d}" for k in range(1, N + 1)]
    assert list(table[0]) == ["participant_id", "diagnosis", "age", "sex"]
    assert [dict(r) for r in table] == [{k: str(v) for k, v in r.items()} for r in rows]
    assert Counter(r["diagnosis"] for r in rows) == {"NC": 2, "MCI": 2, "AD": 2}
    assert all(55 <= r["age"] <= 90 and r["sex"] in {"M", "F"} for r in rows)
    meta = json.loads((out / "participants.json").read_text())
    assert set(meta) == {"participant_id", "diagnosis", "age", "sex"}
    assert set(meta["diagnosis"]["Levels"]) == {"NC", "MCI", "AD"}
    desc = json.loads((out / "dataset_description.json").read_text())
    assert desc["DatasetType"] == "raw" and desc["BIDSVersion"] and desc["Name"]
    assert (out / "README").read_text().strip()


def test_missing_modalities_honoured(cohort) -> None:
    out, _, _ = cohort
    subs = sorted(p.name for p in out.glob("sub-*"))
    has_bold = {s for s in subs if (out / s / "func" / f"{s}_task-rest_bold.nii.gz").exists()}
    has_dwi = {s for s in subs if (out / s / "dwi" / f"{s}_dwi.nii.gz").exists()}
    assert len(subs) == N
    assert N - len(has_bold) == 2 and N - len(has_dwi) == 1
    assert has_bold | has_dwi == set(subs)  # nobody lacks both
    assert all((out / s / "anat" / f"{s}_T1w.nii.gz").exists() for s in subs)
    for s in set(subs) - has_bold:
        assert not (out / s / "func").exists()


def test_missing_sets_rules() -> None:
    no_f, no_d = missing_sets(0, 10, 0.25, 0.5)
    assert len(no_f) == 3 and len(no_d) == 5 and not no_f & no_d
    with pytest.raises(PdsError, match="neither"):
        missing_sets(0, 10, 0.6, 0.5)
    with pytest.raises(PdsError, match="fraction"):
        missing_sets(0, 10, -0.1, 0)


def test_headers_and_gradients(cohort, tiny) -> None:
    out, _, _ = cohort
    sim = tiny.simulation
    sub = next(s.name for s in sorted(out.glob("sub-*")) if (s / "func").exists() and (s / "dwi").exists())
    bold = nib.load(out / sub / "func" / f"{sub}_task-rest_bold.nii.gz")
    dwi = nib.load(out / sub / "dwi" / f"{sub}_dwi.nii.gz")
    t1 = nib.load(out / sub / "anat" / f"{sub}_T1w.nii.gz")
    assert bold.shape == (*sim.bold_shape, sim.bold_volumes)
    assert dwi.shape == (*sim.dwi_shape, sim.dwi_directions + sim.dwi_b0s)
    assert bold.header.get_zooms()[3] == pytest.approx(sim.repetition_time)
    np.testing.assert_allclose(bold.header.get_zooms()[:3], sim.bold_voxel_mm, rtol=1e-6)
    for img in (bold, dwi, t1):
        assert img.header.get_xyzt_units() == ("mm", "sec")
        assert int(img.header["sform_code"]) == 1 and int(img.header["qform_code"]) == 1
        np.testing.assert_allclose(img.get_qform(), img.get_sform(), atol=1e-4)
        assert img.get_data_dtype() == np.int16
        assert nib.aff2axcodes(img.affine) == ("L", "A", "S")
        # Close to MNI: the centre voxel lies within a few mm of the brain centre.
        centre = img.affine @ np.r_[(np.asarray(img.shape[:3]) - 1) / 2, 1]
        assert np.linalg.norm(centre[:3] - [0, -18, 8]) < 25
    side = json.loads((out / sub / "func" / f"{sub}_task-rest_bold.json").read_text())
    assert side == {"TaskName": "rest", "RepetitionTime": sim.repetition_time}
    bvals = np.loadtxt(out / sub / "dwi" / f"{sub}_dwi.bval")
    bvecs = np.loadtxt(out / sub / "dwi" / f"{sub}_dwi.bvec")
    assert bvals.shape == (dwi.shape[3],) and bvecs.shape == (3, dwi.shape[3])
    b0 = bvals <= 50
    assert b0.sum() == sim.dwi_b0s
    np.testing.assert_array_equal(bvecs[:, b0], 0)
    np.testing.assert_allclose(np.linalg.norm(bvecs[:, ~b0], axis=0), 1, atol=1e-5)
    data = np.asanyarray(dwi.dataobj)
    assert data[..., b0].mean() > data[..., ~b0].mean()  # diffusion weighting attenuates


def test_pybids_reads_it(cohort) -> None:
    bids = pytest.importorskip("bids")
    out, _, _ = cohort
    layout = bids.BIDSLayout(str(out), validate=False)
    assert len(layout.get_subjects()) == N
    bolds = layout.get(suffix="bold", extension=".nii.gz")
    dwis = layout.get(suffix="dwi", extension=".nii.gz")
    assert len(bolds) == N - 2 and len(dwis) == N - 1
    assert layout.get_metadata(bolds[0].path)["RepetitionTime"] > 0
    assert layout.get_bval(dwis[0].path) and layout.get_bvec(dwis[0].path)
    strict = bids.BIDSLayout(str(out), validate=True)
    assert len(strict.get(suffix="bold", extension=".nii.gz")) == N - 2
    assert len(strict.get(suffix="T1w", extension=".nii.gz")) == N


def test_same_seed_byte_identical_other_seed_differs(cohort, tmp_path, tiny) -> None:
    out, _, _ = cohort
    again = tmp_path / "again"
    simulate_cohort(again, tiny, N, seed=3, missing_fmri=1 / 3, missing_dmri=1 / 6)
    assert _hashes(again) == _hashes(out)
    other = tmp_path / "other"
    simulate_cohort(other, tiny, 2, seed=4)
    h_other, h_out = _hashes(other), _hashes(out)
    assert h_other["sub-001/anat/sub-001_T1w.nii.gz"] != h_out["sub-001/anat/sub-001_T1w.nii.gz"]


def test_subject_does_not_depend_on_cohort_size(tmp_path, tiny) -> None:
    simulate_cohort(tmp_path / "a", tiny, 2, seed=9)
    simulate_cohort(tmp_path / "b", tiny, 4, seed=9)
    ha, hb = _hashes(tmp_path / "a"), _hashes(tmp_path / "b")
    subject_files = [k for k in ha if k.startswith("sub-")]
    assert subject_files and all(ha[k] == hb[k] for k in subject_files)


def test_out_dir_rules(tmp_path, tiny) -> None:
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not empty"):
        simulate_cohort(foreign, tiny, 1, seed=0)
    with pytest.raises(InputError, match="refusing"):
        simulate_cohort(foreign, tiny, 1, seed=0, overwrite=True)
    assert (foreign / "notes.txt").read_text() == "mine"
    sim_dir = tmp_path / "sim"
    simulate_cohort(sim_dir, tiny, 3, seed=0)
    simulate_cohort(sim_dir, tiny, 1, seed=0, overwrite=True)
    assert sorted(p.name for p in sim_dir.glob("sub-*")) == ["sub-001"]
    assert not list(sim_dir.rglob("*.part*"))
    with pytest.raises(PdsError, match="n_subjects"):
        simulate_cohort(tmp_path / "x", tiny, 0, seed=0)
    with pytest.raises(PdsError, match="seed"):
        simulate_cohort(tmp_path / "x", tiny, 1, seed=-1)


def test_subject_streams_are_seedsequence_spawn_children() -> None:
    from pds_mri.simulate.cohort import subject_rng

    child = np.random.SeedSequence(5).spawn(4)[2].spawn(5)[3]  # subject 2, part "bold"
    expected = np.random.default_rng(child).random(3)
    np.testing.assert_array_equal(subject_rng(5, 2, "bold").random(3), expected)
