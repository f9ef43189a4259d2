"""`--registration syn`: rigid -> affine -> SyN, its warp applied to every map, stored beside the affine, used
inverted for native outputs, and re-used by a re-run on the same images (no second registration)."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from pds_mri.io import layout
from pds_mri.io.transform_files import read_transform
from pds_mri.preprocess.registration import estimate, reference_image
from pds_mri.preprocess.transform import to_grid_via, to_mni_space, to_native_via
from pds_mri.workflows.prepare import PrepareOptions, run_prepare

from ._moved import cohort_rows, grid_maps, move, moved_copy, r

SUBJECTS = ("001", "003")


def _prepare(bids: Path, out: Path, registration: str) -> Path:
    run_prepare(
        PrepareOptions(bids_dir=bids, out_dir=out, preset="cpu", registration=registration, participant_labels=SUBJECTS)
    )
    return out


@pytest.fixture(scope="module")
def syn(sim_bids: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("syn")
    bids = moved_copy(sim_bids, root / "bids")
    return {
        "bids": bids,
        "registered": _prepare(bids, root / "registered", "syn"),
        "unmoved": _prepare(sim_bids, root / "unmoved", "syn"),
    }


def test_moved_cohort_prepares_to_the_unmoved_maps_through_syn(syn: dict[str, Path]) -> None:
    reference, registered = grid_maps(syn["unmoved"]), grid_maps(syn["registered"])
    assert set(reference) == set(registered) and len(reference) == 2 * len(SUBJECTS)
    for key in reference:
        assert r(registered[key], reference[key]) >= 0.9, key


def test_syn_transforms_are_stored_and_listed(syn: dict[str, Path]) -> None:
    prepared = syn["registered"]
    for row in cohort_rows(prepared):
        assert row["registration"] == "SyN via T1w" and float(row["registration_dice"]) > 0.5
        for m in ("fmri", "dmri"):
            xfm = json.loads((prepared / row[f"{m}_xfm"]).read_text())
            forward, inverse = layout.warp_of(row[f"{m}_xfm"]), layout.warp_of(row[f"{m}_xfm"], inverse=True)
            assert xfm["Transforms"]["from-native_to-MNI152NLin2009cAsym"] == [forward, "Matrix"]
            assert xfm["Reference"]["SHA256"] and xfm["Registration"] == "syn"
            for name in (forward, inverse):
                field = nib.load(prepared / name)
                assert field.shape[3:] == (1, 3) and np.abs(np.asarray(field.dataobj)).max() > 0.1  # a real warp
    assert "*_xfm.nii.gz" in (prepared / ".bidsignore").read_text().split()


def test_the_warp_changes_the_maps(syn: dict[str, Path]) -> None:
    """Applying only the affine part of the stored transform gives other maps: the warp is really applied."""
    prepared = syn["registered"]
    row = cohort_rows(prepared)[0]
    transform = read_transform(prepared, row["dmri_xfm"])
    native = nib.load(prepared / row["dmri_native"])
    grid = nib.load(prepared / row["dmri_mask"])
    full = to_mni_space(native, transform, grid.affine, grid.shape, "linear").get_fdata()
    affine_only = to_mni_space(native, type(transform)(transform.matrix), grid.affine, grid.shape, "linear")
    inside = np.asarray(grid.dataobj) > 0
    assert np.abs(full - affine_only.get_fdata())[inside].mean() > 0.01 * np.abs(full[inside]).mean()


def test_warp_conventions_match_ants_apply_transforms(sim_bids: Path, tmp_path: Path) -> None:
    """Our resampling through (affine, warp) is what antsApplyTransforms makes of the same transform."""
    import ants

    from pds_mri.preprocess.registration import _template

    t1w = nib.load(next(sim_bids.glob("sub-001/anat/*_T1w.nii.gz")))
    moved = nib.Nifti1Image(np.asarray(t1w.dataobj, np.float32), move(3) @ t1w.affine)
    transform = estimate(reference_image(moved), "syn")
    template, _ = _template()
    ours = to_mni_space(moved, transform, template.affine, template.shape, "linear").get_fdata()
    # the same transform, written as ANTs files
    nib.save(transform.warp, tmp_path / "warp.nii.gz")
    mni_to_subject = np.diag([-1.0, -1.0, 1.0, 1.0]) @ np.linalg.inv(transform.matrix) @ np.diag([-1.0, -1, 1, 1])
    itk = ants.create_ants_transform(
        transform_type="AffineTransform", dimension=3, matrix=mni_to_subject[:3, :3], translation=mni_to_subject[:3, 3]
    )
    ants.write_transform(itk, str(tmp_path / "affine.mat"))
    theirs = ants.apply_transforms(
        ants.from_nibabel_nifti(template),
        ants.from_nibabel_nifti(moved),
        [str(tmp_path / "warp.nii.gz"), str(tmp_path / "affine.mat")],
        interpolator="linear",
    ).numpy()
    both = (ours != 0) | (theirs != 0)
    assert np.corrcoef(ours[both], theirs[both])[0, 1] > 0.99


def test_native_outputs_round_trip_through_the_inverse(syn: dict[str, Path]) -> None:
    """A native map taken onto its model grid and back (inverse warp, then inverse affine) is itself again."""
    from pds_mri.config import preset

    prepared = syn["registered"]
    grids = preset("cpu").grids
    for row in cohort_rows(prepared):
        for m, grid in (("fmri", grids.fmri), ("dmri", grids.dmri)):
            transform = read_transform(prepared, row[f"{m}_xfm"])
            native = nib.load(prepared / row[f"{m}_native"])
            on_grid = to_grid_via(native, transform, grid, "linear")
            back = to_native_via(on_grid, transform, native, "linear").get_fdata()
            original = native.get_fdata()
            inside = (back != 0) & (original != 0)
            assert inside.mean() > 0.2 and np.corrcoef(back[inside], original[inside])[0, 1] >= 0.9, (row, m)


def test_a_rerun_reuses_the_transforms(syn: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A second prepare into the same directory registers nothing (ants.registration would raise) and writes
    the same bytes; a changed input image is registered again."""
    import shutil

    import ants

    out = tmp_path / "prepared"
    shutil.copytree(syn["registered"], out)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("ants.registration called although the transforms were cached")

    monkeypatch.setattr(ants, "registration", refuse)
    _prepare(syn["bids"], out, "syn")
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    # dataset_description.json records the output folder, and this copy lives elsewhere
    changed = [str(k) for k in before if before[k] != after.get(k) and k.name != "dataset_description.json"]
    assert set(after) == set(before) and not changed, changed
    # another image, another transform: the cache does not apply
    t1w = next((syn["bids"] / "sub-001" / "anat").glob("*_T1w.nii.gz"))
    changed_bids = tmp_path / "bids"
    shutil.copytree(syn["bids"], changed_bids)
    img = nib.load(changed_bids / t1w.relative_to(syn["bids"]))
    nib.save(nib.Nifti1Image(np.asarray(img.dataobj) * 1.01, img.affine, img.header), img.get_filename())
    with pytest.raises(Exception, match="cached"):
        _prepare(changed_bids, out, "syn")


def test_re_preparing_affinely_leaves_no_syn_warp_behind(syn: dict[str, Path], tmp_path: Path) -> None:
    """The second run writes no warps for its rows: the first run's would otherwise sit beside the new outputs."""
    import shutil

    out = tmp_path / "prepared"
    shutil.copytree(syn["registered"], out)
    assert list(out.rglob("*_xfm.nii.gz"))
    _prepare(syn["bids"], out, "affine")
    assert not list(out.rglob("*_xfm.nii.gz"))
    rows = cohort_rows(out)
    assert {row["registration"] for row in rows} == {"affine via T1w"}
    assert all((out / row["fmri_xfm"]).is_file() and (out / row["fmri"]).is_file() for row in rows if row["fmri"])
