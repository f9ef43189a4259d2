"""fMRIPrep/QSIPrep-style inputs in the T1w frame, with the derivative's own ITK transform to MNI152: `auto`
applies it (nitransforms) instead of registering, and the maps match the unmoved cohort's."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from pds_mri.preprocess.derivative_transforms import find, transform_file
from pds_mri.preprocess.registration import MIN_DICE
from pds_mri.workflows.prepare import PrepareOptions, run_prepare

from ._moved import grid_maps, move, r

SUBJECTS = ("001", "003")
XFM = "_from-T1w_to-MNI152NLin2009cAsym_mode-image_xfm.txt"


def _as_derivative(bids: Path, out: Path) -> Path:
    """Each subject moved (as in _moved.py) and written as fMRIPrep/QSIPrep would: space-T1w BOLD and DWI,
    desc-preproc T1w, and the subject's T1w → MNI transform (ITK affine written by nitransforms)."""
    import nitransforms as nt

    out.mkdir(parents=True)
    (out / "dataset_description.json").write_text(
        json.dumps({"Name": "deriv", "BIDSVersion": "1.9.0", "DatasetType": "derivative",
                    "GeneratedBy": [{"Name": "fMRIPrep"}]})
    )  # fmt: skip
    shutil.copy(bids / "participants.tsv", out / "participants.tsv")
    for k, subject in enumerate(sorted(bids.glob("sub-*"))):
        sub = subject.name
        moved = move(k)  # MNI point p lies at subject point moved @ p: what the ITK file maps
        for path in subject.rglob("*"):
            if not path.is_file():
                continue
            name = path.name
            if "_bold." in name:
                name = name.replace("_bold.", "_space-T1w_desc-preproc_bold.")
            elif "_dwi." in name:
                name = name.replace("_dwi.", "_space-T1w_desc-preproc_dwi.")
            elif "_T1w." in name:
                name = name.replace("_T1w.", "_desc-preproc_T1w.")
            target = out / path.relative_to(bids).parent / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if name.endswith(".nii.gz"):
                img = nib.load(path)
                nib.save(nib.Nifti1Image(np.asarray(img.dataobj), moved @ img.affine, img.header), target)
            else:
                shutil.copy(path, target)
        (out / sub / "anat").mkdir(exist_ok=True)
        nt.linear.Affine(moved).to_filename(str(out / sub / "anat" / f"{sub}{XFM}"), fmt="itk")
    return out


@pytest.fixture(scope="module")
def derived(sim_bids: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import ants

    root = tmp_path_factory.mktemp("derived")
    deriv = _as_derivative(sim_bids, root / "fmriprep")
    unmoved = root / "unmoved"
    run_prepare(PrepareOptions(bids_dir=sim_bids, out_dir=unmoved, preset="cpu", participant_labels=SUBJECTS))
    real = ants.registration

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("ants.registration called although the derivative holds the transforms")

    ants.registration = refuse
    try:
        out = root / "prepared"
        run_prepare(PrepareOptions(bids_dir=deriv, out_dir=out, preset="cpu", participant_labels=SUBJECTS))
    finally:
        ants.registration = real
    return {"deriv": deriv, "prepared": out, "unmoved": unmoved}


def test_derivative_transforms_place_the_maps_without_ants(derived: dict[str, Path]) -> None:
    reference, placed = grid_maps(derived["unmoved"]), grid_maps(derived["prepared"])
    assert set(reference) == set(placed) and len(reference) == 2 * len(SUBJECTS)
    for key in reference:
        assert r(placed[key], reference[key]) >= 0.9, key
    rows = list(csv.DictReader((derived["prepared"] / "cohort.tsv").open(), delimiter="\t"))
    for row in rows:
        assert row["registration"].startswith("derivatives transform"), row["registration"]
        assert float(row["registration_dice"]) > MIN_DICE


def test_the_transform_file_is_found_next_to_the_image(derived: dict[str, Path]) -> None:
    bold = next((derived["deriv"] / "sub-001" / "func").glob("*_space-T1w_desc-preproc_bold.nii.gz"))
    assert transform_file(bold) == derived["deriv"] / "sub-001" / "anat" / f"sub-001{XFM}"
    found = find(bold)
    assert found is not None and np.allclose(found[0].matrix, np.linalg.inv(move(0)), atol=1e-5)
    assert transform_file(bold.with_name(bold.name.replace("space-T1w", "space-MNI152NLin2009cAsym"))) is None
