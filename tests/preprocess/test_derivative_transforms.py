"""fMRIPrep/QSIPrep-style inputs in the T1w frame, with the derivative's own ITK transform to MNI152: `auto`
applies it instead of registering (an affine .txt, or an .h5 composite of an affine and a displacement field),
and the maps match the unmoved cohort's; an unusable file is named in a warning and the row goes to ANTs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from pds_mri.io.transform_files import read_transform
from pds_mri.preprocess.derivative_transforms import find, transform_file
from pds_mri.preprocess.registration import MIN_DICE
from pds_mri.preprocess.transform import to_grid_via, to_native_via
from pds_mri.workflows.prepare import PrepareOptions, run_prepare

from ._itk import LPS, field_image, grid_points, inverse_of, tapered, write_composite
from ._moved import cohort_rows, grid_maps, move, r

SUBJECTS = ("001", "003")
XFM = "_from-T1w_to-MNI152NLin2009cAsym_mode-image_xfm.txt"


def _derivative_names(bids: Path, out: Path, write) -> Path:  # type: ignore[no-untyped-def]
    """`bids` copied to `out` under fMRIPrep/QSIPrep names; each image written by `write(k, img, target)`."""
    out.mkdir(parents=True)
    (out / "dataset_description.json").write_text(
        json.dumps({"Name": "deriv", "BIDSVersion": "1.9.0", "DatasetType": "derivative",
                    "GeneratedBy": [{"Name": "fMRIPrep"}]})
    )  # fmt: skip
    shutil.copy(bids / "participants.tsv", out / "participants.tsv")
    for k, subject in enumerate(sorted(bids.glob("sub-*"))):
        for path in subject.rglob("*"):
            if not path.is_file():
                continue
            name = path.name
            for kind, space in (("_bold.", "_space-T1w_desc-preproc"), ("_dwi.", "_space-T1w_desc-preproc")):
                name = name.replace(kind, f"{space}{kind}")
            name = name.replace("_T1w.", "_desc-preproc_T1w.")
            target = out / path.relative_to(bids).parent / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if name.endswith(".nii.gz"):
                write(k, nib.load(path), target)
            else:
                shutil.copy(path, target)
        (out / subject.name / "anat").mkdir(exist_ok=True)
    return out


FIELD = np.array([[4.0, 0, 0, -96], [0, 4.0, 0, -132], [0, 0, 4.0, -78], [0, 0, 0, 1]])  # MNI, 4 mm
FIELD_SHAPE = (49, 58, 49)
REVERSE = "_from-MNI152NLin2009cAsym_to-T1w_mode-image_xfm.h5"


def _as_composite_derivative(bids: Path, out: Path) -> Path:
    """Each subject moved (`move`) and deformed by a smooth few-mm field, as SyN would leave it: an image's
    voxel i shows the unmoved image at MNI point y' + v(y') (y' its unmoved world point, v a tapered wave), and
    sits at move @ y'. The derivative's composites say exactly that: forward [affine, field u = inverse of v]
    (u acts first: native = A(y + u(y))), reverse [field v, inverse affine]; the second subject has no reverse
    file, so its inverse field is computed."""
    v = tapered(FIELD, FIELD_SHAPE, amplitude=4.0)

    def write(k: int, img: nib.Nifti1Image, target: Path) -> None:
        from scipy import ndimage

        data = np.asarray(img.get_fdata(dtype=np.float32))
        world = grid_points(img.affine, img.shape)
        shift = np.linalg.inv(img.affine[:3, :3]) @ v(world)
        vox = np.indices(img.shape[:3], dtype=np.float64).reshape(3, -1) + shift
        volumes = data.reshape(*img.shape[:3], -1)
        warped = np.stack([ndimage.map_coordinates(volumes[..., t], vox, order=1, mode="nearest")
                           for t in range(volumes.shape[3])], axis=-1).reshape(data.shape)  # fmt: skip
        nib.save(nib.Nifti1Image(warped.astype(np.float32), move(k) @ img.affine, img.header), target)

    _derivative_names(bids, out, write)
    points = grid_points(FIELD, FIELD_SHAPE)
    for k, subject in enumerate(sorted(out.glob("sub-*"))):
        anat = subject / "anat"
        itk = LPS @ move(k) @ LPS  # MNI (LPS) -> subject (LPS)
        u = field_image(FIELD, FIELD_SHAPE, inverse_of(v, points))
        write_composite(anat / f"{subject.name}{XFM.replace('.txt', '.h5')}", [itk, u], precision="float")
        if subject.name != "sub-003":
            vfield = field_image(FIELD, FIELD_SHAPE, v(points))
            write_composite(anat / f"{subject.name}{REVERSE}", [vfield, np.linalg.inv(itk)], precision="float")
    return out


def _as_derivative(bids: Path, out: Path) -> Path:
    """Each subject moved (as in _moved.py) and written as fMRIPrep/QSIPrep would: space-T1w BOLD and DWI,
    desc-preproc T1w, and the subject's T1w → MNI transform (ITK affine written by nitransforms)."""
    import nitransforms as nt

    def write(k: int, img: nib.Nifti1Image, target: Path) -> None:  # MNI point p lies at subject point move @ p
        nib.save(nib.Nifti1Image(np.asarray(img.dataobj), move(k) @ img.affine, img.header), target)

    _derivative_names(bids, out, write)
    for k, subject in enumerate(sorted(out.glob("sub-*"))):
        xfm = subject / "anat" / f"{subject.name}{XFM}"
        nt.linear.Affine(move(k)).to_filename(str(xfm), fmt="itk")
    return out


@pytest.fixture(scope="module")
def unmoved(sim_bids: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("unmoved") / "prepared"
    run_prepare(PrepareOptions(bids_dir=sim_bids, out_dir=out, preset="cpu", participant_labels=SUBJECTS))
    return out


def _prepare_without_ants(deriv: Path, out: Path) -> Path:
    import ants

    real = ants.registration

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("ants.registration called although the derivative holds the transforms")

    ants.registration = refuse
    try:
        run_prepare(PrepareOptions(bids_dir=deriv, out_dir=out, preset="cpu", participant_labels=SUBJECTS))
    finally:
        ants.registration = real
    return out


@pytest.fixture(scope="module")
def derived(sim_bids: Path, unmoved: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("derived")
    deriv = _as_derivative(sim_bids, root / "fmriprep")
    return {"deriv": deriv, "prepared": _prepare_without_ants(deriv, root / "prepared"), "unmoved": unmoved}


@pytest.fixture(scope="module")
def composite(sim_bids: Path, unmoved: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("composite")
    deriv = _as_composite_derivative(sim_bids, root / "fmriprep")
    return {"deriv": deriv, "prepared": _prepare_without_ants(deriv, root / "prepared"), "unmoved": unmoved}


def test_derivative_transforms_place_the_maps_without_ants(derived: dict[str, Path]) -> None:
    reference, placed = grid_maps(derived["unmoved"]), grid_maps(derived["prepared"])
    assert set(reference) == set(placed) and len(reference) == 2 * len(SUBJECTS)
    for key in reference:
        assert r(placed[key], reference[key]) >= 0.9, key
    rows = cohort_rows(derived["prepared"])
    for row in rows:
        assert row["registration"].startswith("derivatives transform"), row["registration"]
        assert float(row["registration_dice"]) > MIN_DICE


def test_the_transform_file_is_found_next_to_the_image(derived: dict[str, Path]) -> None:
    bold = next((derived["deriv"] / "sub-001" / "func").glob("*_space-T1w_desc-preproc_bold.nii.gz"))
    assert transform_file(bold) == derived["deriv"] / "sub-001" / "anat" / f"sub-001{XFM}"
    found = find(bold)
    assert found is not None and np.allclose(found[0].matrix, np.linalg.inv(move(0)), atol=1e-5)
    assert transform_file(bold.with_name(bold.name.replace("space-T1w", "space-MNI152NLin2009cAsym"))) is None


def test_a_session_image_finds_its_session_transform_else_the_subject_level_one(tmp_path: Path) -> None:
    """fMRIPrep's longitudinal anatomy: one sub-X_from-T1w_to-... in sub-X/anat/ serves every session."""
    bold = tmp_path / "sub-01" / "ses-2" / "func" / "sub-01_ses-2_task-rest_space-T1w_desc-preproc_bold.nii.gz"
    bold.parent.mkdir(parents=True)
    bold.touch()
    subject_level = tmp_path / "sub-01" / "anat" / f"sub-01{XFM}"
    subject_level.parent.mkdir(parents=True)
    subject_level.touch()
    assert transform_file(bold) == subject_level
    session_level = tmp_path / "sub-01" / "ses-2" / "anat" / f"sub-01_ses-2{XFM}"
    session_level.parent.mkdir(parents=True)
    session_level.touch()
    assert transform_file(bold) == session_level


def test_composite_transforms_place_the_maps_without_ants(composite: dict[str, Path]) -> None:
    """fMRIPrep-style composites (affine + displacement field): the maps match the unmoved cohort's, and the
    prepared directory stores both fields."""
    reference, placed = grid_maps(composite["unmoved"]), grid_maps(composite["prepared"])
    assert set(reference) == set(placed) and len(reference) == 2 * len(SUBJECTS)
    for key in reference:
        assert r(placed[key], reference[key]) >= 0.9, (key, r(placed[key], reference[key]))
    for row in cohort_rows(composite["prepared"]):
        assert row["registration"].startswith("derivatives transform"), row["registration"]
        assert float(row["registration_dice"]) > MIN_DICE
        xfm = json.loads((composite["prepared"] / row["dmri_xfm"]).read_text())
        assert "Transforms" in xfm and xfm["Registration"] == "derivatives"


def test_the_warp_of_a_composite_matters(composite: dict[str, Path]) -> None:
    """Placing the same images by the composite's affine alone correlates less with the unmoved maps: the
    displacement field is really applied (and in the right direction)."""
    from pds_mri.config import preset
    from pds_mri.preprocess.transform import ToMNI, to_grid_via

    grid = preset("cpu").grids.dmri
    row = cohort_rows(composite["prepared"])[0]
    transform = read_transform(composite["prepared"], row["dmri_xfm"])
    native = nib.load(composite["prepared"] / row["dmri_native"])
    reference = grid_maps(composite["unmoved"])[(row["participant_id"], "dmri")]
    full = to_grid_via(native, transform, grid, "linear").get_fdata()
    affine = to_grid_via(native, ToMNI(transform.matrix), grid, "linear").get_fdata()
    assert r(np.where(np.isfinite(reference), full, np.nan), reference) > r(
        np.where(np.isfinite(reference), affine, np.nan), reference
    )


def test_native_outputs_round_trip_through_the_composite(composite: dict[str, Path]) -> None:
    """A native map taken onto its model grid and back (inverse field from the reverse file, or computed for
    sub-003) is itself again: what native synthesis outputs go through."""
    from pds_mri.config import preset
    from pds_mri.io.synthesis_writer import native_to_mni_transform

    grids = preset("cpu").grids
    prepared = composite["prepared"]
    for row in cohort_rows(prepared):
        for m, grid in (("fmri", grids.fmri), ("dmri", grids.dmri)):
            transform = native_to_mni_transform(prepared, row, m)  # what `pds synthesize` writes native maps with
            assert transform is not None
            assert transform.inverse_warp is not None
            native = nib.load(prepared / row[f"{m}_native"])
            back = to_native_via(to_grid_via(native, transform, grid, "linear"), transform, native, "linear")
            original, back_data = native.get_fdata(), back.get_fdata()
            inside = (back_data != 0) & (original != 0)
            assert inside.mean() > 0.2 and np.corrcoef(back_data[inside], original[inside])[0, 1] >= 0.9, (row, m)


def test_an_unreadable_composite_is_named_and_ants_registers(
    composite: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deriv = tmp_path / "fmriprep"
    shutil.copytree(composite["deriv"], deriv)
    broken = deriv / "sub-001" / "anat" / f"sub-001{XFM.replace('.txt', '.h5')}"
    broken.write_bytes(b"not an HDF5 file")
    out = tmp_path / "prepared"
    run_prepare(PrepareOptions(bids_dir=deriv, out_dir=out, preset="cpu", participant_labels=("001",)))
    lines = [line for line in capsys.readouterr().err.splitlines() if "derivative transform not used" in line]
    assert len(lines) == 1 and broken.name in lines[0] and "not a readable ITK transform file" in lines[0], lines
    (row,) = cohort_rows(out)
    assert row["registration"] == "affine via T1w"


def test_an_mni_bold_beside_a_t1w_frame_dwi_is_left_where_it_is(
    derived: dict[str, Path], sim_bids: Path, tmp_path: Path
) -> None:
    """fMRIPrep's space-MNI152 BOLD with QSIPrep-style T1w-frame DWI: the DWI is placed by its transform, the
    BOLD is not moved by it (nor by an ANTs registration of the row)."""
    deriv = tmp_path / "mixed"
    shutil.copytree(derived["deriv"], deriv)
    for bold in deriv.rglob("*_space-T1w_desc-preproc_bold.nii.gz"):
        original = next((sim_bids / bold.relative_to(deriv).parent).glob("*_bold.nii.gz"))  # unmoved, in MNI
        bold.unlink()
        shutil.copy(original, bold.with_name(bold.name.replace("space-T1w", "space-MNI152NLin2009cAsym")))
    placed = grid_maps(_prepare_without_ants(deriv, tmp_path / "prepared"))
    reference = grid_maps(derived["unmoved"])
    for key in reference:
        assert r(placed[key], reference[key]) >= 0.9, key
    rows = cohort_rows(tmp_path / "prepared")
    assert all(row["registration"].endswith("fMRI as declared (space-MNI152)") for row in rows if row["fmri"])
    assert all(not row["fmri_xfm"] for row in rows)
