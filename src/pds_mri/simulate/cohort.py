"""The simulated NC / MCI / AD cohort: who the subjects are, and writing them as BIDS.

Randomness: the root is `np.random.SeedSequence(seed)`; subject k draws from its k-th child
(`SeedSequence(seed).spawn(n)[k]`, which does not depend on n) and gives each part (demographics,
anatomy, T1w, BOLD, DWI) its own grandchild stream. So subject k is identical whatever the cohort size and
whether its other modality is written. Diagnoses come in shuffled blocks of three (one NC, one MCI, one AD
per block, order drawn from the seed), so groups are balanced and adding subjects never relabels old ones.
Missing modalities are drawn per cohort: round(fraction·n) subjects lack fMRI, a disjoint set lacks dMRI.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pds_mri import __version__
from pds_mri.config import Config, Simulation, dump_config
from pds_mri.domain import DIAGNOSES
from pds_mri.errors import InputError, PdsError
from pds_mri.io.atomic import write_text
from pds_mri.simulate import bids
from pds_mri.simulate.anatomy import SubjectAnatomy, make_anatomy
from pds_mri.simulate.bold import BoldRun, simulate_bold
from pds_mri.simulate.dwi import DwiRun, gradient_table, simulate_dwi
from pds_mri.simulate.t1w import T1wImage, simulate_t1w

SEVERITY = {"NC": 0.0, "MCI": 0.5, "AD": 1.0}
_SEVERITY_JITTER = {"NC": 0.05, "MCI": 0.1, "AD": 0.1}
_SEVERITY_RANGE = {"NC": (0.0, 0.15), "MCI": (0.25, 0.75), "AD": (0.7, 1.3)}
_AGE_MEAN = {"NC": 70.0, "MCI": 73.0, "AD": 75.0}
_STREAMS = ("demographics", "anatomy", "t1w", "bold", "dwi")
# Spawn keys for cohort-level draws, far above any subject index so they never collide.
_DIAGNOSIS_KEY = 2**40
_MISSING_KEY = 2**40 + 1


@dataclass(frozen=True)
class SubjectPlan:
    index: int
    participant_id: str
    diagnosis: str
    severity: float
    age: int
    sex: str

    def row(self) -> dict:
        return {"participant_id": self.participant_id, "diagnosis": self.diagnosis, "age": self.age, "sex": self.sex}


@dataclass(frozen=True)
class SubjectScans:
    plan: SubjectPlan
    anatomy: SubjectAnatomy
    t1w: T1wImage
    bold: BoldRun | None
    dwi: DwiRun | None


def subject_rng(seed: int, index: int, stream: str) -> np.random.Generator:
    """Generator for one part of subject `index`: SeedSequence(seed).spawn(·)[index].spawn(·)[part]."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(index, _STREAMS.index(stream))))


def plan_subject(seed: int, index: int, n_subjects: int) -> SubjectPlan:
    block = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_DIAGNOSIS_KEY, index // 3)))
    diagnosis = DIAGNOSES[int(block.permutation(3)[index % 3])]
    rng = subject_rng(seed, index, "demographics")
    lo, hi = _SEVERITY_RANGE[diagnosis]
    severity = float(np.clip(SEVERITY[diagnosis] + rng.normal(0.0, _SEVERITY_JITTER[diagnosis]), lo, hi))
    if diagnosis == "NC":
        severity = abs(severity)
    age = int(np.clip(np.rint(rng.normal(_AGE_MEAN[diagnosis], 6.0)), 55, 90))
    sex = "F" if rng.random() < 0.5 else "M"
    return SubjectPlan(index, bids.subject_label(index, n_subjects), diagnosis, severity, age, sex)


def missing_sets(seed: int, n_subjects: int, missing_fmri: float, missing_dmri: float) -> tuple[set, set]:
    """Indices of subjects without fMRI and without dMRI (disjoint: nobody lacks both)."""
    for name, frac in (("missing_fmri", missing_fmri), ("missing_dmri", missing_dmri)):
        if not 0.0 <= frac <= 1.0:
            raise PdsError(f"{name} must be a fraction between 0 and 1, got {frac}")
    n_f = int(np.floor(missing_fmri * n_subjects + 0.5))
    n_d = int(np.floor(missing_dmri * n_subjects + 0.5))
    if n_f + n_d > n_subjects:
        raise PdsError(
            f"missing_fmri + missing_dmri would leave subjects with neither modality "
            f"({n_f} + {n_d} > {n_subjects} subjects)"
        )
    order = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_MISSING_KEY,))).permutation(n_subjects)
    return {int(i) for i in order[:n_f]}, {int(i) for i in order[n_f : n_f + n_d]}


def simulate_subject(
    config: Config, seed: int, plan: SubjectPlan, with_fmri: bool = True, with_dmri: bool = True
) -> SubjectScans:
    """All scans of one subject in memory (with ground truth), without writing anything."""
    sim = config.simulation
    anatomy = make_anatomy(subject_rng(seed, plan.index, "anatomy"), plan.severity, plan.age)
    t1w = simulate_t1w(anatomy, sim, subject_rng(seed, plan.index, "t1w"))
    bold = simulate_bold(anatomy, sim, subject_rng(seed, plan.index, "bold")) if with_fmri else None
    dwi = simulate_dwi(anatomy, sim, subject_rng(seed, plan.index, "dwi")) if with_dmri else None
    return SubjectScans(plan=plan, anatomy=anatomy, t1w=t1w, bold=bold, dwi=dwi)


def simulate_cohort(
    out_dir: Path,
    config: Config,
    n_subjects: int,
    seed: int,
    missing_fmri: float = 0.0,
    missing_dmri: float = 0.0,
    progress: Callable[[int], None] | None = None,
    overwrite: bool = False,
) -> list[dict]:
    """Write a seeded raw-BIDS cohort to `out_dir`; return the participants.tsv rows.

    `progress(1)` is called after each subject is written (an increment, to advance a progress bar). An existing
    non-empty `out_dir` is refused, unless `overwrite` and it is a previous simulation (its subject
    folders are then removed first, so no stale subject survives).
    """
    out_dir = Path(out_dir)
    if isinstance(n_subjects, bool) or not isinstance(n_subjects, int | np.integer) or n_subjects < 1:
        raise PdsError(f"n_subjects must be a positive integer, got {n_subjects!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise PdsError(f"seed must be a non-negative integer, got {seed!r}")
    _check_simulation(config.simulation)
    no_fmri, no_dmri = missing_sets(seed, n_subjects, missing_fmri, missing_dmri)
    _prepare_out_dir(out_dir, overwrite)

    plans = [plan_subject(seed, k, n_subjects) for k in range(n_subjects)]
    rows = [p.row() for p in plans]
    description = (
        f"pds simulate: seed={seed}, n_subjects={n_subjects}, preset={config.preset}, "
        f"missing_fmri={missing_fmri}, missing_dmri={missing_dmri}"
    )
    bids.write_dataset_files(out_dir, rows, description, _readme(config, seed, n_subjects, no_fmri, no_dmri))
    write_text(out_dir / "code" / "simulation_config.yaml", dump_config(config))
    sim = config.simulation
    for plan in plans:
        scans = simulate_subject(config, seed, plan, plan.index not in no_fmri, plan.index not in no_dmri)
        sub = plan.participant_id
        bids.write_t1w(out_dir, sub, scans.t1w.data, scans.t1w.affine, sim.t1w_voxel_mm)
        if scans.bold is not None:
            bids.write_bold(
                out_dir, sub, scans.bold.data, scans.bold.affine, sim.bold_voxel_mm, scans.bold.repetition_time
            )
        if scans.dwi is not None:
            g = scans.dwi.gradients
            bids.write_dwi(out_dir, sub, scans.dwi.data, scans.dwi.affine, sim.dwi_voxel_mm, g.bvals, g.bvecs)
        del scans
        if progress is not None:
            progress(1)
    return rows


def _check_simulation(sim: Simulation) -> None:
    problems = []
    for name in ("bold_shape", "dwi_shape", "bold_voxel_mm", "dwi_voxel_mm"):
        if min(getattr(sim, name)) <= 0:
            problems.append(f"{name} must be positive")
    if sim.bold_volumes < 8:
        problems.append("bold_volumes must be >= 8")
    if sim.repetition_time <= 0:
        problems.append("repetition_time must be > 0")
    if sim.t1w_voxel_mm <= 0:
        problems.append("t1w_voxel_mm must be > 0")
    if sim.snr <= 0:
        problems.append("snr must be > 0")
    if problems:
        raise PdsError("invalid simulation config: " + "; ".join(problems))
    gradient_table(sim.dwi_directions, sim.dwi_b0s)  # raises on an impossible table


def _prepare_out_dir(out_dir: Path, overwrite: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(out_dir, "exists and is not a directory")
    if not out_dir.exists() or not any(out_dir.iterdir()):
        out_dir.mkdir(parents=True, exist_ok=True)
        return
    if not overwrite:
        raise InputError(out_dir, "output directory is not empty (overwrite replaces a previous simulation)")
    try:
        desc = json.loads((out_dir / "dataset_description.json").read_text())
        ours = any(g.get("Name") == bids.GENERATOR for g in desc.get("GeneratedBy", []))
    except (OSError, ValueError, AttributeError):
        ours = False
    if not ours:
        raise InputError(out_dir, "refusing to overwrite: not a cohort written by pds simulate")
    for sub in sorted(out_dir.glob("sub-*")):
        if sub.is_dir():
            shutil.rmtree(sub)


def _readme(config: Config, seed: int, n: int, no_fmri: set, no_dmri: set) -> str:
    sim = config.simulation
    return f"""# pds-mri simulated cohort

A seeded, simulated NC / MCI / AD cohort written by `pds simulate` (pds-mri {__version__}).
It is a test bed for fMRI <-> dMRI synthesis, not a claim about brains: do not use it to study disease.

- subjects: {n} (diagnoses in balanced shuffled blocks), seed {seed}, preset `{config.preset}`;
  {len(no_fmri)} without fMRI, {len(no_dmri)} without dMRI (never both).
- anatomy: MNI152 2009 GM/WM templates (nilearn) warped by a random smooth deformation and head-size
  scale; disease severity (NC 0, MCI ~0.5, AD ~1) turns hippocampal, temporal and posterior cingulate grey
  matter into CSF and enlarges the ventricles.
- anat: T1w, {sim.t1w_voxel_mm} mm isotropic.
- func: resting-state BOLD, {tuple(sim.bold_shape)} voxels of {tuple(sim.bold_voxel_mm)} mm,
  {sim.bold_volumes} volumes, TR {sim.repetition_time} s; band-limited (0.01-0.08 Hz) signals shared
  within each Dosenbach-160 network, default-mode amplitude lowered with severity, drift, Rician noise.
- dwi: {sim.dwi_b0s} b0 + {sim.dwi_directions} directions at b ~1000 from dipy's small_64D table,
  {tuple(sim.dwi_shape)} voxels of {tuple(sim.dwi_voxel_mm)} mm; one tensor per voxel; FA lowered and MD
  raised in temporal/cingulum white matter with severity; Rician noise (SNR {sim.snr} on WM b0).
- geometry: images are LAS with qform = sform (code 1) in MNI152 world coordinates up to a few mm of
  shift, so an affine resample puts them on an MNI grid; bvecs are in the voxel frame.

The configuration used is in `code/simulation_config.yaml`.
"""
