"""validate_subject / validate_cohort: every problem of a subject at once, data loaded once, inputs untouched."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import nibabel as nib
import numpy as np
import pytest

from pds_mri.config import Maps
from pds_mri.errors import CohortError
from pds_mri.io.inputs import SubjectInputs
from pds_mri.io.validate import cohort_error, fov_overlap, validate_cohort, validate_subject, world_bbox

MakeSubject = Callable[..., SubjectInputs]


def _messages(errors: list) -> str:
    return "\n".join(str(e) for e in errors)


def test_valid_subject_loads_everything_once(make_subject: MakeSubject) -> None:
    subject = make_subject()
    errors, v = validate_subject(subject, Maps())
    assert errors == [] and v is not None
    assert v.participant_id == subject.participant_id
    assert v.bold_data.shape == (6, 6, 4, 60) and v.bold_data.dtype == np.float32
    assert v.tr == 2.0
    assert v.dwi_data.shape == (5, 5, 4, 13) and v.bvals.shape == (13,) and v.bvecs.shape == (13, 3)
    assert v.t1w_data.shape == (8, 8, 6)
    assert isinstance(v.bold_img, nib.Nifti1Image) and isinstance(v.t1w_img, nib.Nifti1Image)


@pytest.mark.parametrize(("bold", "dwi", "t1w"), [(True, False, False), (False, True, True), (True, False, True)])
def test_single_modality_subjects_are_valid(make_subject: MakeSubject, bold: bool, dwi: bool, t1w: bool) -> None:
    errors, v = validate_subject(make_subject(bold=bold, dwi=dwi, t1w=t1w), Maps())
    assert errors == [] and v is not None
    assert (v.bold_data is not None) == bold and (v.dwi_data is not None) == dwi


def test_real_small_64d_dwi_validates(tmp_path: Path, kit: SimpleNamespace) -> None:
    nii, bval, bvec = (kit.copy_to(p, tmp_path) for p in kit.SMALL_64D)
    errors, v = validate_subject(SubjectInputs("sub-64", dwi=nii, bval=bval, bvec=bvec), Maps(dmri_map="fa"))
    assert errors == [] and v is not None and v.dwi_data.shape == (10, 10, 10, 65)


def test_no_modality_is_an_error(make_subject: MakeSubject) -> None:
    errors, v = validate_subject(make_subject(pid="sub-t1only", bold=False, dwi=False), Maps())
    assert v is None and len(errors) == 1
    assert "sub-t1only" in str(errors[0]) and "nothing to synthesise" in str(errors[0])


@pytest.mark.parametrize(
    ("maps", "n_volumes", "keywords"),
    [
        (Maps(fmri_map="alff"), 20, ("too short for ALFF", "need >= 50")),
        (Maps(fmri_map="falff", dummy_scans=5, min_alff_volumes=50), 54, ("too short for FALFF", "49 volumes")),
        (Maps(dummy_scans=19), 20, ("too short", "need >= 2")),
        (Maps(dummy_scans=30), 20, ("too short", "0 left")),
    ],
)
def test_bold_too_short(make_subject: MakeSubject, maps: Maps, n_volumes: int, keywords: tuple[str, ...]) -> None:
    subject = make_subject(dwi=False, t1w=False, n_volumes=n_volumes)
    errors, v = validate_subject(subject, maps)
    assert v is None and len(errors) == 1
    for k in keywords:
        assert k in str(errors[0]), errors[0]
    assert subject.bold.name in str(errors[0])


def test_short_bold_is_fine_for_the_mean_map(make_subject: MakeSubject) -> None:
    errors, _ = validate_subject(make_subject(dwi=False, t1w=False, n_volumes=20), Maps(fmri_map="mean"))
    assert errors == []


def test_tr_missing_everywhere(make_subject: MakeSubject, kit: SimpleNamespace) -> None:
    subject = make_subject(dwi=False, t1w=False)
    kit.write_nifti(subject.bold, kit.bold_array(), tr=None)  # header without a TR
    errors, _ = validate_subject(dataclasses.replace(subject, bold_sidecar=None), Maps())
    assert len(errors) == 1
    kit.assert_one_line_error(errors[0], subject.bold, "missing RepetitionTime")


def test_manifest_tr_is_used_and_checked(make_subject: MakeSubject) -> None:
    subject = dataclasses.replace(make_subject(dwi=False, t1w=False), bold_sidecar=None, repetition_time=1.5)
    assert validate_subject(subject, Maps())[1].tr == 1.5
    errors, _ = validate_subject(dataclasses.replace(subject, repetition_time=-1.0), Maps())
    assert "manifest RepetitionTime" in str(errors[0])


def test_tr_too_long_for_alff(make_subject: MakeSubject) -> None:
    subject = make_subject(dwi=False, t1w=False)
    subject.bold_sidecar.write_text(json.dumps({"RepetitionTime": 60.0}))
    errors, _ = validate_subject(subject, Maps(fmri_map="alff"))
    assert len(errors) == 1 and "Nyquist" in str(errors[0])


@pytest.mark.parametrize("shift_mm", [1000.0, -1000.0])
def test_non_overlapping_fovs_name_both_files(make_subject: MakeSubject, kit: SimpleNamespace, shift_mm: float) -> None:
    subject = make_subject(t1w=False)
    bvals, _ = kit.gradient_table_3xn()
    kit.write_nifti(subject.dwi, kit.dwi_array(bvals), voxel_mm=5.0, origin=(-10.0 + shift_mm, -12.0, -8.0))
    errors, v = validate_subject(subject, Maps())
    assert v is None and len(errors) == 1
    msg = str(errors[0])
    assert "\n" not in msg and "overlap" in msg
    assert str(subject.bold) in msg and str(subject.dwi) in msg


def test_t1w_must_overlap_the_functional_images(make_subject: MakeSubject, kit: SimpleNamespace) -> None:
    subject = make_subject()
    kit.write_nifti(subject.t1w, np.ones((8, 8, 6), np.float32), voxel_mm=3.0, origin=(0.0, 1000.0, 0.0))
    errors, _ = validate_subject(subject, Maps())
    assert len(errors) == 2 and all(str(subject.t1w) in str(e) and "overlap" in str(e) for e in errors)


def test_fov_overlap_geometry(kit: SimpleNamespace, tmp_path: Path) -> None:
    a = nib.load(kit.write_nifti(tmp_path / "a.nii", np.ones((10, 10, 10), np.float32), 1.0, (0.0, 0.0, 0.0)))
    b = nib.load(kit.write_nifti(tmp_path / "b.nii", np.ones((10, 10, 10), np.float32), 1.0, (5.0, 0.0, 0.0)))
    np.testing.assert_allclose(world_bbox(a), [[-0.5] * 3, [9.5] * 3])
    assert fov_overlap(a, b) == pytest.approx(0.5)
    assert fov_overlap(a, a) == pytest.approx(1.0)


def test_all_problems_of_one_subject_reported_together(make_subject: MakeSubject, kit: SimpleNamespace) -> None:
    subject = make_subject()
    kit.write_nifti(subject.bold, kit.bold_array()[..., 0])  # 3D where 4D is needed
    subject.bold_sidecar.write_text("{not json")
    subject.bval.write_text(" ".join(["0"] + ["1000"] * 11) + "\n")  # 12 b-values for 13 volumes
    t1 = np.ones((8, 8, 6), np.float32)
    t1[0, 0, 0] = np.nan
    kit.write_nifti(subject.t1w, t1, voxel_mm=3.0)
    errors, v = validate_subject(subject, Maps())
    assert v is None
    expected = [
        (subject.bold, "expected a 4D"),
        (subject.bold_sidecar, "invalid JSON"),
        (subject.bval, "13 volumes"),
        (subject.t1w, "NaN"),
    ]
    assert len(errors) == len(expected), _messages(errors)
    for err, (path, keyword) in zip(errors, expected, strict=True):
        kit.assert_one_line_error(err, path, keyword)


def test_dwi_without_gradient_files(make_subject: MakeSubject, kit: SimpleNamespace) -> None:
    subject = dataclasses.replace(make_subject(bold=False, t1w=False), bval=None, bvec=None)
    errors, _ = validate_subject(subject, Maps())
    kit.assert_one_line_error(errors[0], subject.dwi, "no .bval and .bvec")


def test_tensor_maps_need_six_directions(make_subject: MakeSubject, kit: SimpleNamespace, tmp_path: Path) -> None:
    subject = make_subject(bold=False, t1w=False)
    bvals, bvecs = kit.gradient_table_3xn(n_dirs=12)
    bvals[4:] = 3000.0  # only 3 directions left at b <= 1500
    kit.write_gradients(subject.bval.parent, bvals, bvecs, stem=subject.bval.name[: -len(".bval")])
    assert validate_subject(subject, Maps(dmri_map="mean"))[0] == []
    errors, _ = validate_subject(subject, Maps(dmri_map="fa"))
    kit.assert_one_line_error(errors[0], subject.bvec, "non-collinear directions")


def test_corrupt_data_still_gets_geometry_checks(make_subject: MakeSubject, kit: SimpleNamespace) -> None:
    """A NaN voxel and a shifted FOV are both reported (geometry comes from the headers)."""
    subject = make_subject(t1w=False)
    bvals, _ = kit.gradient_table_3xn()
    dwi = kit.dwi_array(bvals)
    dwi[0, 0, 0, 0] = np.inf
    kit.write_nifti(subject.dwi, dwi, voxel_mm=5.0, origin=(990.0, 0.0, 0.0))
    errors, _ = validate_subject(subject, Maps())
    assert len(errors) == 2 and "Inf" in str(errors[0]) and "overlap" in str(errors[1])


@pytest.mark.parametrize("maps", [Maps(), Maps(fmri_map="alff", dmri_map="fa")])
def test_inputs_are_never_modified(make_subject: MakeSubject, kit: SimpleNamespace, tmp_path: Path, maps: Maps) -> None:
    good = make_subject()
    bad = make_subject()
    kit.truncate_half(bad.dwi)
    bad.bvec.write_text("1 2 3\n")
    before = kit.tree_hashes(tmp_path)
    validate_subject(good, maps)
    validate_subject(bad, maps)
    validate_cohort([good, bad], maps)
    assert kit.tree_hashes(tmp_path) == before  # same files, same bytes, same mtimes; nothing new


def test_validate_cohort_reports_every_invalid_subject(make_subject: MakeSubject, kit: SimpleNamespace) -> None:
    good = make_subject(pid="sub-good")
    bad = make_subject(pid="sub-bad")
    kit.flip_middle(bad.bold)
    bad.bold_sidecar.unlink()
    empty = make_subject(pid="sub-empty", bold=False, dwi=False)
    report = validate_cohort([good, bad, empty, good], Maps())
    assert list(report) == ["sub-bad", "sub-empty", "sub-good"]
    assert [len(v) for v in report.values()] == [2, 1, 1]
    assert "listed more than once" in str(report["sub-good"][0])
    err = cohort_error(report)
    assert isinstance(err, CohortError) and len(err.problems) == 4
    assert str(bad.bold) in str(err) and str(bad.bold_sidecar) in str(err)
    assert cohort_error(validate_cohort([good], Maps())) is None


@pytest.mark.parametrize(("offset_mm", "expected"), [(0.0, 1.0), (70.0, 0.5), (140.0, 0.0), (500.0, 0.0)])
def test_fov_overlap_is_symmetric_in_world_space(offset_mm: float, expected: float) -> None:
    a = nib.Nifti1Image(np.zeros((20, 10, 10), np.float32), np.diag([7.0, 7.0, 7.0, 1.0]))
    shifted = a.affine.copy()
    shifted[0, 3] += offset_mm
    b = nib.Nifti1Image(np.zeros((20, 10, 10), np.float32), shifted)
    assert fov_overlap(a, b) == pytest.approx(expected)
    flipped = np.diag([-7.0, 7.0, 7.0, 1.0])  # same box described with a flipped axis
    flipped[0, 3] = 19 * 7.0 + offset_mm
    assert fov_overlap(a, nib.Nifti1Image(np.zeros((20, 10, 10), np.float32), flipped)) == pytest.approx(expected)


@pytest.mark.parametrize("modality", ["bold", "dwi"])
@pytest.mark.parametrize("value", [0.0, 7.5])
def test_an_image_with_one_value_everywhere_is_a_failed_export(
    make_subject: MakeSubject, kit: SimpleNamespace, modality: str, value: float
) -> None:
    subject = make_subject()
    path = getattr(subject, modality)
    img = nib.load(path)
    nib.save(nib.Nifti1Image(np.full(img.shape, value, np.float32), img.affine, img.header), path)
    errors, v = validate_subject(subject, Maps())
    assert v is None and len(errors) == 1
    assert "same value" in str(errors[0]) and path.name in str(errors[0]) and "\n" not in str(errors[0])
