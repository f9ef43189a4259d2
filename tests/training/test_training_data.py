from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch
from _training_prepared import GRIDS, linear_map, world_coords

from pds_mri.errors import InputError, PdsError
from pds_mri.io import layout
from pds_mri.training.data import (
    PreparedCohort,
    collate,
    diagnosis_code,
    direction_modalities,
    load_direction_item,
    read_cohort,
)


def test_read_cohort_parses_rows_and_missing_cells(prepared: Path) -> None:
    rows = read_cohort(prepared)
    assert [r["participant_id"] for r in rows] == ["sub-01", "sub-02", "sub-03", "sub-04"]
    assert rows[2]["dmri"] is None and rows[3]["fmri"] is None
    assert rows[3]["diagnosis"] is None  # "n/a"


def test_read_cohort_errors_name_the_file(tmp_path: Path, prepared: Path) -> None:
    with pytest.raises(InputError, match=r"cohort\.tsv not found"):
        read_cohort(tmp_path)
    (tmp_path / "cohort.tsv").write_text("participant_id\tdiagnosis\nsub-01\tNC\n")
    with pytest.raises(InputError, match=r"missing column\(s\) \['fmri', 'dmri'"):
        read_cohort(tmp_path)
    text = (prepared / "cohort.tsv").read_text().splitlines()
    (prepared / "cohort.tsv").write_text("\n".join([*text, text[1]]) + "\n")
    with pytest.raises(InputError, match="duplicate participant_id 'sub-01'"):
        read_cohort(prepared)


def test_read_cohort_rows_are_participant_sessions(tmp_path: Path, prepared: Path) -> None:
    """An index with session_id: one participant may have several rows, each (participant, session) once; an index
    without the column (written before sessions were read) is read as before."""
    from pds_mri.io.layout import key_of

    header, *lines = (prepared / "cohort.tsv").read_text().splitlines()
    first = lines[0].split("\t", 1)
    rows = [f"{first[0]}\tses-01\t{first[1]}", f"{first[0]}\tses-02\t{first[1]}", f"sub-09\tn/a\t{first[1]}"]
    columns = header.replace("participant_id\t", "participant_id\tsession_id\t", 1)
    (tmp_path / "cohort.tsv").write_text("\n".join([columns, *rows]) + "\n")
    assert [key_of(r) for r in read_cohort(tmp_path)] == ["sub-01_ses-01", "sub-01_ses-02", "sub-09"]
    (tmp_path / "cohort.tsv").write_text("\n".join([columns, rows[0], rows[0]]) + "\n")
    with pytest.raises(InputError, match="line 3: duplicate participant_id 'sub-01' with session_id 'ses-01'"):
        read_cohort(tmp_path)
    (tmp_path / "cohort.tsv").write_text("\n".join([columns, rows[0].replace("ses-01", "ses-../x")]) + "\n")
    with pytest.raises(InputError, match=r"session 'ses-\.\./x' is not a valid label"):
        read_cohort(tmp_path)
    assert [key_of(r) for r in read_cohort(prepared)] == ["sub-01", "sub-02", "sub-03", "sub-04"]


def test_diagnosis_and_direction_codes() -> None:
    assert [diagnosis_code(x) for x in ("NC", "mci", "AD", None, "other")] == [0, 1, 2, -1, -1]
    assert direction_modalities("fmri2dmri") == ("fmri", "dmri")
    assert direction_modalities("dmri2fmri") == ("dmri", "fmri")
    with pytest.raises(PdsError, match="unknown direction"):
        direction_modalities("t1w2fmri")


@pytest.mark.parametrize("direction", ["fmri2dmri", "dmri2fmri"])
def test_training_items_on_the_target_grid(prepared: Path, direction: str) -> None:
    ds = PreparedCohort(prepared)
    assert ds.participant_ids == ["sub-01", "sub-02"]  # only subjects with both modalities
    assert ds.diagnoses == [0, 2]
    item = ds[1][direction]
    _, tgt = direction_modalities(direction)
    shape = GRIDS[tgt].shape
    assert item["source"].shape == (1, *shape) and item["source"].dtype == torch.float32
    assert item["target"].shape == (1, *shape)
    assert item["mask"].shape == (1, *shape) and set(item["mask"].unique().tolist()) == {0.0, 1.0}
    assert item["tissue"].shape == (3, *shape)
    assert item["pattern"].shape == shape and item["pattern"].dtype == torch.long
    assert int(item["pattern"].max()) <= 160
    assert int(item["direction"]) == (0 if direction == "fmri2dmri" else 1)
    assert int(item["diagnosis"]) == 2
    np.testing.assert_allclose(item["target"][0].numpy(), linear_map(GRIDS[tgt], 1.1), atol=1e-6)


def test_source_resampled_by_world_coordinates(prepared: Path) -> None:
    """A map linear in world space is reproduced exactly inside the source FOV; outside it is -1."""
    item = PreparedCohort(prepared)[0]["fmri2dmri"]
    got = item["source"][0].numpy()
    expected = linear_map(GRIDS["dmri"], 1.0)
    src = GRIDS["fmri"]
    lo = src.affine[:3, 3]
    hi = lo + (np.asarray(src.shape) - 1) * np.asarray(src.voxel_mm)
    xyz = world_coords(GRIDS["dmri"])
    inside = np.all((xyz >= lo + 1e-3) & (xyz <= hi - 1e-3), axis=-1)
    vox = np.asarray(src.voxel_mm)
    outside = np.any((xyz < lo - vox) | (xyz > hi + vox), axis=-1)  # more than one source voxel out
    assert inside.sum() > 50 and outside.sum() > 50
    np.testing.assert_allclose(got[inside], expected[inside], atol=1e-5)
    assert np.all(got[outside] == -1.0)
    assert got.min() >= -1.0 and got.max() <= 1.0


def test_items_are_cached(prepared: Path) -> None:
    ds = PreparedCohort(prepared)
    assert ds[0] is ds[0]
    assert ds[0]["fmri2dmri"]["pattern"] is ds[1]["fmri2dmri"]["pattern"]  # one atlas tensor shared


def test_subset_and_unknown_ids(prepared: Path) -> None:
    assert PreparedCohort(prepared, ["sub-02"]).participant_ids == ["sub-02"]
    with pytest.raises(PdsError, match=r"sub-03"):
        PreparedCohort(prepared, ["sub-03"])  # has only fMRI: cannot supervise training


def test_inference_item_without_target(prepared: Path) -> None:
    rows = {r["participant_id"]: r for r in read_cohort(prepared)}
    item = load_direction_item(prepared, rows["sub-03"], "fmri2dmri")
    assert "target" not in item
    assert item["source"].shape == (1, *GRIDS["dmri"].shape)
    assert item["mask"].shape == (1, *GRIDS["dmri"].shape)
    assert int(item["diagnosis"]) == 1
    with pytest.raises(InputError, match="sub-03: no dmri map"):
        load_direction_item(prepared, rows["sub-03"], "dmri2fmri")
    item4 = load_direction_item(prepared, rows["sub-04"], "dmri2fmri")
    assert int(item4["diagnosis"]) == -1 and item4["source"].shape == (1, *GRIDS["fmri"].shape)


def test_collate_stacks_per_direction(prepared: Path) -> None:
    ds = PreparedCohort(prepared)
    batch = collate([ds[0], ds[1]])
    assert batch["participant_id"] == ["sub-01", "sub-02"]
    assert batch["fmri2dmri"]["source"].shape == (2, 1, *GRIDS["dmri"].shape)
    assert batch["dmri2fmri"]["tissue"].shape == (2, 3, *GRIDS["fmri"].shape)
    assert batch["dmri2fmri"]["pattern"].shape == (2, *GRIDS["fmri"].shape)
    assert batch["fmri2dmri"]["direction"].tolist() == [0, 0]
    assert batch["dmri2fmri"]["direction"].tolist() == [1, 1]
    assert batch["fmri2dmri"]["diagnosis"].tolist() == [0, 2]


def test_corrupt_and_mismatched_inputs_name_the_file(prepared: Path) -> None:
    path = prepared / layout.grid_map("sub-01", "dmri", "mean")
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes())[:200]))  # truncated image
    with pytest.raises(InputError, match=r"sub-01_space-dmrigrid_desc-mean_trace\.nii\.gz: cannot read NIfTI"):
        PreparedCohort(prepared)[0]
    import nibabel as nib

    from pds_mri.io.atomic import save_nifti

    save_nifti(nib.Nifti1Image(np.zeros((5, 5, 5), np.float32), GRIDS["dmri"].affine), path)
    with pytest.raises(InputError, match=r"shape \(5, 5, 5\) does not match the model grid \(12, 12, 8\)"):
        PreparedCohort(prepared)[0]
