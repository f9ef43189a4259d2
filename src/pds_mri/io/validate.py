"""Validate a subject's inputs before any computation, collecting every problem (nnU-Net style).

Two entry points:
- `validate_subject` runs all checks on one subject and, when it passes, returns the loaded data so each
  file is read once for processing.
- `validate_cohort` validates every subject but keeps no data (memory stays at one subject), returning
  the problems per subject; the caller reports them all at once (`cohort_error`), then processes subjects
  one by one, calling `validate_subject` again to get each subject's data.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import ParamSpec, TypeVar

import nibabel as nib
import numpy as np

from pds_mri.config import Maps
from pds_mri.errors import CohortError, InputError
from pds_mri.io.gradients import read_gradients
from pds_mri.io.inputs import SubjectInputs
from pds_mri.io.nifti import check_nifti_header, read_nifti_data
from pds_mri.io.sidecar import check_repetition_time, read_repetition_time
from pds_mri.preprocess.maps import DMRI_MAPS, FMRI_MAPS, BoldRun, GradientTable

P = ParamSpec("P")
T = TypeVar("T")

MIN_FOV_OVERLAP = 0.2  # intersection / smaller bounding box, below which paired images do not overlap
MIN_MNI_COVERAGE = 0.5  # share of the MNI152 brain's box that an image taken to be in MNI space must cover


@dataclass
class ValidatedSubject:
    """One subject's inputs after validation, loaded once: images (for affines/headers) and float32 data."""

    inputs: SubjectInputs
    bold_img: nib.Nifti1Image | None = None
    bold_data: np.ndarray | None = None  # (x, y, z, t), dummy scans still included
    tr: float | None = None  # repetition time in seconds
    dwi_img: nib.Nifti1Image | None = None
    dwi_data: np.ndarray | None = None  # (x, y, z, n)
    bvals: np.ndarray | None = None  # (n,)
    bvecs: np.ndarray | None = None  # (n, 3), unit for diffusion-weighted volumes
    t1w_img: nib.Nifti1Image | None = None
    t1w_data: np.ndarray | None = None  # (x, y, z)

    @property
    def participant_id(self) -> str:
        return self.inputs.participant_id


def world_bbox(img: nib.Nifti1Image) -> np.ndarray:
    """Axis-aligned world-space box (2, 3) of the voxel grid, voxel edges included (not just centres)."""
    shape = np.asarray(img.shape[:3], dtype=np.float64)
    corners = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)], dtype=np.float64)
    vox = corners * shape - 0.5  # edges of the first and last voxels
    world = nib.affines.apply_affine(img.affine, vox)
    return np.stack([world.min(axis=0), world.max(axis=0)])


def fov_overlap(a: nib.Nifti1Image, b: nib.Nifti1Image) -> float:
    """Volume of the intersection of the two world boxes over the volume of the smaller box (0..1)."""
    box_a, box_b = world_bbox(a), world_bbox(b)
    inter = np.clip(np.minimum(box_a[1], box_b[1]) - np.maximum(box_a[0], box_b[0]), 0.0, None)
    smaller = min(np.prod(box_a[1] - box_a[0]), np.prod(box_b[1] - box_b[0]))
    return float(np.prod(inter) / smaller) if smaller > 0 else 0.0


def _check_overlap(path_a: Path, img_a: nib.Nifti1Image, path_b: Path, img_b: nib.Nifti1Image) -> None:
    frac = fov_overlap(img_a, img_b)
    if frac < MIN_FOV_OVERLAP:
        raise InputError(
            path_a,
            f"field of view does not overlap {path_b} ({100 * frac:.0f}% of the smaller box, "
            f"need {100 * MIN_FOV_OVERLAP:.0f}%): not in the same space?",
        )


@functools.cache
def mni_brain_box() -> np.ndarray:
    """World box (2, 3) of nilearn's MNI152 brain mask (voxels > 0), the region every model grid covers."""
    from nilearn.datasets import load_mni152_brain_mask

    mask = load_mni152_brain_mask()
    ijk = np.argwhere(np.asarray(mask.dataobj) > 0)
    corners = nib.affines.apply_affine(mask.affine, np.stack([ijk.min(axis=0) - 0.5, ijk.max(axis=0) + 0.5]))
    return np.stack([corners.min(axis=0), corners.max(axis=0)])


def _check_covers_mni(path: Path, img: nib.Nifti1Image, brain: np.ndarray) -> None:
    """An image taken to lie in MNI space (no registration) must cover most of the brain it will be cut to;
    else every later step would see an empty or clipped map (a head placed far from the origin, 1 voxel)."""
    box = world_bbox(img)
    inter = np.clip(np.minimum(box[1], brain[1]) - np.maximum(box[0], brain[0]), 0.0, None)
    share = float(np.prod(inter) / np.prod(brain[1] - brain[0]))
    if share < MIN_MNI_COVERAGE:
        raise InputError(
            path,
            f"field of view covers {100 * share:.0f}% of the MNI152 brain (need {100 * MIN_MNI_COVERAGE:.0f}%) "
            "while taken to be in MNI space: register it (`pds prepare --registration affine`)",
        )


class _Collector:
    """Runs checks, keeping each InputError so one subject's problems are all reported together."""

    def __init__(self) -> None:
        self.errors: list[InputError] = []

    def run(self, check: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T | None:
        try:
            return check(*args, **kwargs)
        except InputError as exc:
            self.errors.append(exc)
            return None

    def add(self, path: str | Path, problem: str) -> None:
        self.errors.append(InputError(path, problem))


def _check_not_constant(path: Path, data: np.ndarray | None, what: str, c: _Collector) -> None:
    """An all-zero (or all-equal) image is a failed export, not a scan: its map would be constant."""
    if data is not None and data.size and float(np.nanmax(data)) == float(np.nanmin(data)):
        c.add(path, f"{what} has the same value ({float(np.nanmax(data)):g}) in every voxel: a failed export?")


def _validate_bold(bold: Path, subject: SubjectInputs, maps: Maps, c: _Collector, out: ValidatedSubject) -> None:
    img = c.run(check_nifti_header, bold, 4, "BOLD run")
    if img is not None:
        out.bold_img = img
        out.bold_data = c.run(read_nifti_data, img)
        _check_not_constant(bold, out.bold_data, "BOLD run", c)
    if subject.repetition_time is not None:
        out.tr = c.run(check_repetition_time, subject.repetition_time, bold, "manifest")
    elif subject.bold_sidecar is not None or img is not None:
        header = img.header if img is not None else None
        out.tr = c.run(read_repetition_time, subject.bold_sidecar, bold, header)
    if img is not None:
        c.errors += FMRI_MAPS.get(maps.fmri_map)().check(BoldRun(bold, int(img.shape[3]), out.tr), maps)


def _validate_dwi(dwi: Path, subject: SubjectInputs, maps: Maps, c: _Collector, out: ValidatedSubject) -> None:
    img = c.run(check_nifti_header, dwi, 4, "DWI")
    if img is not None:
        out.dwi_img = img
        out.dwi_data = c.run(read_nifti_data, img)
        _check_not_constant(dwi, out.dwi_data, "DWI", c)
    if subject.bval is None or subject.bvec is None:
        missing = " and ".join(n for n, p in ((".bval", subject.bval), (".bvec", subject.bvec)) if p is None)
        c.add(dwi, f"no {missing} file for this DWI")
        return
    n_volumes = int(img.shape[3]) if img is not None else None
    table = c.run(read_gradients, subject.bval, subject.bvec, n_volumes, maps.b0_threshold)
    if table is None:
        return
    out.bvals, out.bvecs = table
    c.errors += DMRI_MAPS.get(maps.dmri_map)().check(
        GradientTable(Path(subject.bval), Path(subject.bvec), *table), maps
    )


def validate_subject(
    subject: SubjectInputs, maps: Maps, in_mni: bool = False
) -> tuple[list[InputError], ValidatedSubject | None]:
    """Run every check on one subject; return all problems, and the loaded data only if there are none.
    `in_mni`: the images are used without registration, so each must cover the MNI152 brain."""
    c = _Collector()
    out = ValidatedSubject(inputs=subject)
    if subject.bold is None and subject.dwi is None:
        c.add(subject.participant_id, "no BOLD run and no DWI: nothing to synthesise from")
    bold, dwi, t1w = (Path(p) if p is not None else None for p in (subject.bold, subject.dwi, subject.t1w))
    if bold is not None:
        _validate_bold(bold, subject, maps, c, out)
    if dwi is not None:
        _validate_dwi(dwi, subject, maps, c, out)
    if t1w is not None:
        img = c.run(check_nifti_header, t1w, 3, "T1w image")
        if img is not None:
            out.t1w_img = img
            out.t1w_data = c.run(read_nifti_data, img)
    # Geometry from headers that passed, even if voxel data failed: report every problem at once.
    if bold is not None and dwi is not None and out.bold_img is not None and out.dwi_img is not None:
        c.run(_check_overlap, bold, out.bold_img, dwi, out.dwi_img)
    if t1w is not None and out.t1w_img is not None:
        for path, img in ((bold, out.bold_img), (dwi, out.dwi_img)):
            if path is not None and img is not None:
                c.run(_check_overlap, t1w, out.t1w_img, path, img)
    if in_mni:
        brain = mni_brain_box()
        for path, img in ((bold, out.bold_img), (dwi, out.dwi_img), (t1w, out.t1w_img)):
            if path is not None and img is not None:
                c.run(_check_covers_mni, path, img, brain)
    return (c.errors, None) if c.errors else ([], out)


def validate_cohort(subjects: Iterable[SubjectInputs], maps: Maps, in_mni: bool = False) -> dict[str, list[InputError]]:
    """Problems of the invalid subjects only, by participant_id in input order: an empty dict means all valid.

    Each subject's data is dropped after its checks, so memory stays at one subject. A participant listed
    twice is itself a problem, since outputs are keyed by participant.
    """
    report: dict[str, list[InputError]] = {}
    seen: set[str] = set()
    for subject in subjects:
        pid = subject.participant_id
        if pid in seen:
            report.setdefault(pid, []).append(InputError(pid, "participant listed more than once"))
            continue
        seen.add(pid)
        errors, validated = validate_subject(subject, maps, in_mni)
        del validated  # keep memory at one subject
        if errors:
            report[pid] = errors
    return report


def cohort_error(report: dict[str, list[InputError]]) -> CohortError | None:
    """One CohortError holding every problem of the cohort, or None when all subjects are valid."""
    problems = [err for errors in report.values() for err in errors]
    return CohortError(problems) if problems else None
