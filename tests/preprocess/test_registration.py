"""Registration to MNI152: a cohort moved in the scanner prepares to the same model-grid maps as the unmoved one.

Each subject's BOLD, DWI and T1w affines are changed by one rigid + scale transform (rotation <= 12 degrees,
translation <= 25 mm, scale +-6 %; voxels untouched), as if the head had lain elsewhere in the scanner.
"""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from pds_mri.preprocess.registration import (
    MIN_DICE,
    declared_mni,
    dice,
    estimate_to_mni,
    in_mni,
    qc,
    reference_image,
)
from pds_mri.preprocess.subject_registration import resolve_registration
from pds_mri.workflows.prepare import PrepareOptions, run_prepare

from ._moved import cohort_rows
from ._moved import grid_maps as _grid_maps
from ._moved import move as _move
from ._moved import moved_copy as _moved_copy
from ._moved import r as _r

SUBJECTS = ("001", "003")  # two subjects with both modalities and a T1w keep the test short


@pytest.fixture(scope="module")
def moved(sim_bids: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("moved")
    bids = _moved_copy(sim_bids, root / "bids")
    out = {"bids": bids}
    for name, source, registration in (
        ("registered", bids, "auto"),  # auto -> affine: the moved dataset declares no MNI space
        ("unregistered", bids, "none"),
        ("unmoved", sim_bids, "affine"),  # the same cohort in place, prepared the same way
    ):
        out[name] = root / name
        run_prepare(
            PrepareOptions(
                bids_dir=source, out_dir=out[name], preset="cpu", registration=registration, participant_labels=SUBJECTS
            )
        )
    return out


def test_moved_cohort_prepares_to_the_unmoved_maps(moved: dict[str, Path]) -> None:
    reference, registered = _grid_maps(moved["unmoved"]), _grid_maps(moved["registered"])
    unregistered = _grid_maps(moved["unregistered"])
    assert set(reference) == set(registered) and len(reference) == 2 * len(SUBJECTS)
    for key in reference:
        assert _r(registered[key], reference[key]) >= 0.9, key
    # without registration the same inputs land elsewhere: the check above can fail
    assert max(_r(unregistered[k], reference[k]) for k in reference) < 0.5


def test_registration_is_recorded_per_subject(moved: dict[str, Path]) -> None:
    rows = cohort_rows(moved["registered"])
    for r in rows:
        assert r["registration"].startswith("affine via") and float(r["registration_qc"]) > 0.5
        assert float(r["registration_dice"]) > MIN_DICE
        for m in ("fmri", "dmri"):
            if r[m]:
                xfm = json.loads((moved["registered"] / r[f"{m}_xfm"]).read_text())
                assert np.asarray(xfm["Matrix"]).shape == (4, 4)
    plain = cohort_rows(moved["unregistered"])
    assert all(r["registration"] == "none" and not r["fmri_xfm"] for r in plain)


def test_registration_recovers_a_known_move(sim_bids: Path) -> None:
    t1w = nib.load(next(sim_bids.glob("sub-*/anat/*_T1w.nii.gz")))
    move = _move(7)
    moved = nib.Nifti1Image(np.asarray(t1w.dataobj), move @ t1w.affine)
    original = estimate_to_mni(reference_image(t1w))
    recovered = estimate_to_mni(reference_image(moved))
    corners = np.array([[x, y, z, 1.0] for x in (-60, 60) for y in (-90, 60) for z in (-40, 70)]).T
    assert np.abs((recovered @ move - original) @ corners).max() < 3.0  # mm, over the brain's bounding box
    assert qc(moved, recovered) > qc(moved, np.eye(4)) + 0.3
    # the brain-mask overlap tells the registered head from the unregistered one (MIN_DICE between them)
    assert dice(moved, recovered) > MIN_DICE > dice(moved, np.eye(4))
    placed = in_mni(moved, recovered)
    assert np.array_equal(np.asarray(placed.dataobj), np.asarray(t1w.dataobj))  # voxels untouched


def test_auto_registers_unless_mni_is_declared(sim_bids: Path, moved: dict[str, Path]) -> None:
    from pds_mri.io.bids import discover

    assert resolve_registration("auto", sim_bids, discover(sim_bids)) == "none"  # `pds simulate` declares MNI
    # auto: the derivatives' own transforms where they exist, else affine (preprocess/derivative_transforms.py)
    assert resolve_registration("auto", moved["bids"], discover(moved["bids"])) == "auto"
    assert resolve_registration("none", moved["bids"], []) == "none"
    assert declared_mni("sub-01_space-MNI152NLin2009cAsym_desc-preproc_bold.nii.gz")
    assert not declared_mni("sub-01_space-ACPC_desc-preproc_dwi.nii.gz")


def test_two_registrations_in_a_fresh_process_are_identical() -> None:
    """ITK takes its thread count from the first object a process makes; with several threads its metric sums
    differ in rounding from run to run. A fresh process (no thread variable set, as under `pds prepare`)
    registering the same image twice must get the same transform both times."""
    import os
    import subprocess
    import sys

    code = """
import numpy as np, nibabel as nib
from pds_mri.preprocess.registration import _template, estimate
t1 = _template()[0]
moved = nib.Nifti1Image(np.asarray(t1.dataobj), t1.affine @ np.array(
    [[1, 0, 0, 7.0], [0, 1, 0, -5.0], [0, 0, 1, 4.0], [0, 0, 0, 1]]))
a, b = estimate(moved, "syn"), estimate(moved, "syn")
print(float(np.abs(a.matrix - b.matrix).max()), float(np.abs(a.warp.get_fdata() - b.warp.get_fdata()).max()))
"""
    env = {k: v for k, v in os.environ.items() if k != "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    matrix_diff, warp_diff = map(float, done.stdout.splitlines()[-1].split())
    assert matrix_diff == 0.0 and warp_diff == 0.0
