"""QC numbers and flags of one prepared subject (a cohort.tsv row), for the prepared report's index and pages.

No drawing here. Every path is read from the row's cohort.tsv columns (never rebuilt from names), so a new
entity in the file names (sessions, spaces) changes nothing. A file the row lists but that is missing or
unreadable becomes a flag and a problem note, never an exception.

Numbers: the registration QC that `pds prepare` recorded (Pearson r of the registered reference with the
template, and the Dice overlap of the reference's brain mask carried into MNI with the template's brain mask,
when it registered) and, per modality, the Dice overlap of the model-grid brain mask with nilearn's
MNI152 brain mask resampled onto that grid: a map placed in the wrong position (an unregistered scanner-space
input), cropped or badly masked overlaps the template brain poorly whatever its registration column says.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from pds_mri.domain import MODALITIES
from pds_mri.errors import PdsError
from pds_mri.io.layout import COHORT_TSV, inside, key_of
from pds_mri.preprocess.masks import dice_coefficient
from pds_mri.preprocess.registration import registration_findings

#: Below this Dice of the grid brain mask with the MNI152 brain mask a subject is flagged (a heuristic: the
#: simulated cohort's subjects lie at 0.86-0.98 on the tiny test grids; a head shifted by ~2 cm falls below).
MIN_MNI_DICE = 0.8
LABELS: dict[str, str] = {"fmri": "fMRI", "dmri": "dMRI"}


@dataclass
class SubjectQC:
    """What the index row and the subject page say about one prepared subject (or subject-session)."""

    label: str
    row: Mapping[str, Any]
    registration_qc: float | None = None
    registration_dice: float | None = None  # prepare's overlap of the registered brain mask with MNI152's
    dice: dict[str, float | None] = field(default_factory=dict)
    findings: list[str] = field(default_factory=list)  # flags from the numbers and the row
    problems: dict[str, str] = field(default_factory=dict)  # cohort column -> why its file cannot be used

    @property
    def flags(self) -> list[str]:
        """Every flag; problems found while drawing the page (an unreadable file) count too."""
        damaged = [f"{len(self.problems)} listed file(s) missing or unreadable"] if self.problems else []
        return [*self.findings, *damaged]


def subject_label(row: Mapping[str, Any]) -> str:
    """sub-X, or sub-X_ses-Y for a session row (`key_of`): the page's name and heading."""
    return key_of(row)


def cell_path(prepared: Path, row: Mapping[str, Any], column: str) -> Path | None:
    """The file a cohort.tsv cell names, inside PREPARED (None for an empty cell; PdsError if it leads out)."""
    value = row.get(column)
    if not value:
        return None
    return inside(prepared, str(value), prepared / COHORT_TSV)


def load_cell(prepared: Path, row: Mapping[str, Any], column: str, qc: SubjectQC) -> nib.Nifti1Image | None:
    """The NIfTI a cell names, or None, recording in `qc.problems` why a listed file cannot be read."""
    from pds_mri.io.nifti import load_nifti

    try:
        path = cell_path(prepared, row, column)
    except PdsError as exc:
        qc.problems[column] = str(exc)
        return None
    if path is None:
        return None
    if not path.is_file():
        qc.problems[column] = f"{row.get(column)}: listed in cohort.tsv but missing"
        return None
    try:
        img = load_nifti(str(path))
        data = np.asarray(img.dataobj, dtype=np.float32)  # read it all: a truncated file fails here, not later
        return nib.Nifti1Image(data, img.affine, img.header)
    except Exception as exc:  # a damaged file is a note on the page, not a crash
        qc.problems[column] = f"{row.get(column)}: unreadable ({type(exc).__name__})"
        return None


def as_float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


def subject_qc(prepared: Path, row: Mapping[str, Any]) -> SubjectQC:
    """Numbers and flags of one cohort.tsv row (reads its masks; every other file is only checked to exist)."""
    qc = SubjectQC(
        subject_label(row),
        row,
        registration_qc=as_float(row.get("registration_qc")),
        registration_dice=as_float(row.get("registration_dice")),
    )
    for m in MODALITIES:
        if not row.get(m):
            qc.findings.append(f"no {LABELS[m]}")
        mask = load_cell(prepared, row, f"{m}_mask", qc)
        qc.dice[m] = mni_dice(mask) if mask is not None else None
        for column in (m, f"{m}_native", f"{m}_tissue", f"{m}_xfm"):
            try:
                path = cell_path(prepared, row, column)
            except PdsError as exc:
                qc.problems[column] = str(exc)
                continue
            if path is not None and not path.is_file():
                qc.problems[column] = f"{row.get(column)}: listed in cohort.tsv but missing"
    qc.findings += registration_findings(qc.registration_qc, qc.registration_dice, str(row.get("registration") or ""))
    for name, dice in qc.dice.items():
        if row.get(name) and dice is not None and dice < MIN_MNI_DICE:
            qc.findings.append(f"{LABELS[name]} mask overlaps the MNI brain poorly (Dice {dice:.2f} < {MIN_MNI_DICE})")
    return qc


def modalities(row: Mapping[str, Any]) -> str:
    present = [LABELS[m] for m in MODALITIES if row.get(m)]
    return " + ".join(present) if present else "none"


def mni_dice(mask_img: nib.Nifti1Image) -> float | None:
    """Dice of a grid brain mask with the MNI152 brain mask on the same grid (None for an empty pair)."""
    data = np.asarray(mask_img.dataobj)
    data = data[..., 0] if data.ndim == 4 else data
    mine = data > 0.5
    reference = _mni_mask_on(tuple(mine.shape), np.asarray(mask_img.affine, dtype=np.float64).round(6).tobytes())
    return dice_coefficient(mine, reference)


@functools.lru_cache(maxsize=8)
def _mni_mask_on(shape: tuple[int, ...], affine_bytes: bytes) -> np.ndarray:
    """nilearn's MNI152 brain mask resampled onto a grid (cached per grid: every subject shares one)."""
    from nilearn.image import resample_img

    from pds_mri.report.brain import template_mask

    affine = np.frombuffer(affine_bytes, dtype=np.float64).reshape(4, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        moved = resample_img(
            template_mask(),
            target_affine=affine,
            target_shape=shape,
            interpolation="continuous",
            fill_value=0,
            force_resample=True,
            copy_header=True,
        )
    return np.asarray(moved.dataobj) > 0.5
