"""`pds prepare`: from BIDS (or a manifest) to validated, normalised maps on the model grids + cohort.tsv.

Every input is validated first and all problems are reported at once (nnU-Net style); then each subject
is processed independently, so `--n-jobs` parallelises over subjects and a re-run overwrites atomically.
"""

from __future__ import annotations

import functools
import json
import multiprocessing
import os
import shlex
import shutil
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from pds_mri.config import Config, dump_config, load_config
from pds_mri.config import preset as load_preset
from pds_mri.domain import MODALITIES, REGISTRATIONS, Modality
from pds_mri.errors import CohortError, InputError, PdsError
from pds_mri.io import layout
from pds_mri.io.atomic import output_lock, save_nifti, write_json, write_text, write_tsv
from pds_mri.io.inputs import SubjectInputs
from pds_mri.preprocess.registration import MIN_QC, in_mni
from pds_mri.progress import console, progress_bar
from pds_mri.provenance import dataset_generated_by
from pds_mri.threads import limit_threads, threads_per_process

STAGING = ".staging"  # OUT_DIR/.staging: this run's subject files until every subject has succeeded
SPACE_NOTE = {
    "none": "--registration none: inputs are taken to lie in MNI152 world space as they are",
    "affine": "registering every subject to MNI152 (ANTsPy affine; via the T1w when present, else each modality's "
    "mean image)",
}


@dataclass(frozen=True)
class PrepareOptions:
    bids_dir: Path
    out_dir: Path
    participant_labels: tuple[str, ...] = ()
    session_labels: tuple[str, ...] = ()  # only runs of these sessions (`--session-label`; 'ses-' optional)
    bids_filter_file: Path | None = None  # fMRIPrep-style pybids queries per input (io/bids_filters.py)
    fmri_map: str | None = None  # None: the YAML's maps.fmri_map, else the preset's (`map_choices`)
    dmri_map: str | None = None
    preset: str | None = None  # None: cpu for a `pds simulate` cohort, else required (workflows/presets.py)
    config: Path | None = None
    derivatives: tuple[Path, ...] = ()
    diagnosis_column: str = "diagnosis"
    diagnosis_map: str | None = None  # "SMC=NC,EMCI=MCI,other=unknown" (io/bids.parse_diagnosis_map)
    n_jobs: int = 1
    omp_nthreads: int | None = None  # threads per worker; default: the available cores / n_jobs
    skip_invalid: bool = False
    extra: dict = field(default_factory=dict)
    registration: str = "auto"  # auto | none | affine (preprocess/registration.py)


def resolve_config(options: PrepareOptions) -> Config:
    from pds_mri.preprocess.maps import DMRI_MAPS, FMRI_MAPS
    from pds_mri.workflows.presets import prepare_preset

    name = prepare_preset(options.preset, options.bids_dir)
    base = load_config(options.config, name) if options.config else load_preset(name)
    chosen = map_choices(base, options.fmri_map, options.dmri_map)
    try:
        return Config.model_validate({**base.model_dump(), "maps": base.maps.model_copy(update=chosen).model_dump()})
    except Exception:
        raise PdsError(
            f"invalid map choice: --fmri-map {options.fmri_map} --dmri-map {options.dmri_map} "
            f"(fmri: {'|'.join(FMRI_MAPS.names())}, dmri: {'|'.join(DMRI_MAPS.names())})"
        ) from None


def map_choices(base: Config, fmri_map: str | None, dmri_map: str | None) -> dict[str, str]:
    """The one precedence rule for the maps: a flag that was given > the `--config` YAML > the preset.

    `base` already holds YAML over preset, so only the flags that were given replace its values (a flag's
    default must not silently undo what the YAML asked for)."""
    flags = {"fmri_map": fmri_map, "dmri_map": dmri_map}
    return {k: v if v is not None else getattr(base.maps, k) for k, v in flags.items()}


def run_prepare(options: PrepareOptions) -> list[dict]:
    from pds_mri.io.bids import discover, parse_diagnosis_map, report_unknown_diagnoses
    from pds_mri.io.validate import validate_cohort

    if options.registration not in REGISTRATIONS:
        raise PdsError(f"--registration {options.registration}: choose one of {', '.join(REGISTRATIONS)}")
    config = resolve_config(options)
    out_dir = Path(options.out_dir)
    diagnosis_map = parse_diagnosis_map(options.diagnosis_map)
    subjects = discover(
        options.bids_dir,
        options.participant_labels,
        options.derivatives,
        options.diagnosis_column,
        options.session_labels,
        options.bids_filter_file,
        diagnosis_map,
    )
    if diagnosis_map:
        shown = ", ".join(f"{label} -> {target or 'unknown'}" for label, target in diagnosis_map.items())
        console.print(f"diagnosis labels mapped (--diagnosis-map, case-insensitive): {shown}")
    _refuse_inside_input(options, subjects)
    report_unknown_diagnoses()
    n_subjects = len({s.participant_id for s in subjects})
    rows_note = "" if n_subjects == len(subjects) else f" ({len(subjects)} subject-sessions)"
    console.print(f"found {n_subjects} subject(s){rows_note} in {options.bids_dir}; validating every input first")

    registration = resolve_registration(options.registration, options.bids_dir, subjects)
    kept = _kept_rows(options, config, subjects)
    problems = validate_cohort(subjects, config.maps, in_mni=registration == "none")
    subjects = _drop_invalid(subjects, problems, options.skip_invalid)
    console.print(f"[dim]{SPACE_NOTE[registration]}")

    created = not out_dir.exists()
    try:
        with output_lock(out_dir, "prepare"):
            rows = _prepare_staged(subjects, config, out_dir, options, registration)
            _finish(out_dir, rows, kept, config, options, registration)
    except BaseException:
        if created:  # a refused or interrupted first prepare leaves no folder behind
            shutil.rmtree(out_dir, ignore_errors=True)
        raise
    extra = f" ({len(rows) + len(kept)} in the index)" if kept else ""
    console.print(f"prepared {len(rows)} subject(s){extra} -> {out_dir / 'cohort.tsv'}")
    return rows


def _drop_invalid(
    subjects: list[SubjectInputs], problems: dict[str, list[InputError]], skip_invalid: bool
) -> list[SubjectInputs]:
    """All problems at once, or (``--skip-invalid``) a list of the skipped subjects and the rest."""
    bad = [p for errs in problems.values() for p in errs]
    if bad and not skip_invalid:
        raise CohortError(bad)
    if bad:
        console.print(f"[yellow]skipping {len(problems)} invalid subject(s):")
        for pid, errs in problems.items():
            for err in errs:
                console.print(f"  {pid}: {err}")
    subjects = [s for s in subjects if not problems.get(s.row_id)]
    if not subjects:
        raise PdsError("no valid subject left to prepare")
    return subjects


def _kept_rows(options: PrepareOptions, config: Config, subjects: list[SubjectInputs]) -> list[dict]:
    """With ``--participant-label`` on an existing prepared directory, the other subjects' rows stay in
    cohort.tsv (a partial re-run adds or refreshes subjects and sessions; it never drops the rest). Their maps
    were made with the directory's config, so a different config is refused before anything is written.

    A redone participant's old rows go, whatever their session (an index written before sessions were read
    has a `sub-X` row that its new `sub-X_ses-Y` rows replace: keeping it would list the scan twice), except,
    under ``--session-label``, the rows of the sessions that were not asked for."""
    from pds_mri.io.tables import read_index

    index = Path(options.out_dir) / "cohort.tsv"
    if not options.participant_labels or not index.is_file():
        return []
    old_config = Path(options.out_dir) / "config.yaml"
    if not old_config.is_file() or old_config.read_text(encoding="utf-8") != dump_config(config):
        raise InputError(
            old_config,
            "this prepared directory was made with another configuration; --participant-label adds subjects to it "
            "only with the same one (re-run without --participant-label, or choose a new folder)",
        )
    rows = read_index(index, ("participant_id",), "the index `pds prepare` writes")
    redone = {s.participant_id for s in subjects}
    asked = {layout.session_of({layout.SESSION_COLUMN: label}) for label in options.session_labels}

    def replaced(row: dict) -> bool:
        if row["participant_id"] not in redone:
            return False
        return not asked or layout.session_of(row) in asked or layout.session_of(row) is None

    return [dict(r) for r in rows if r.get("participant_id") and not replaced(dict(r))]


def _prepare_staged(
    subjects: list[SubjectInputs], config: Config, out_dir: Path, options: PrepareOptions, registration: str
) -> list[dict]:
    """Every subject is written to OUT_DIR/.staging first; only when all succeeded (or, with --skip-invalid,
    the rest) are the files moved in, so a subject failing late leaves the earlier outputs as they were."""
    stage = out_dir / STAGING
    shutil.rmtree(stage, ignore_errors=True)
    try:
        rows, failed = _prepare_all(
            subjects, config, stage, options.n_jobs, registration, options.omp_nthreads, dataset_links(options)
        )
        _drop_invalid(subjects, failed, options.skip_invalid)
        write_atlas(stage, config)
        # not a failed subject's leftovers
        folders = [*layout.ATLAS_DIRS, *(layout.row_folder(r["participant_id"], layout.session_of(r)) for r in rows)]
        files = [p for folder in folders for p in (stage / folder).rglob("*") if p.is_file()]
        for path in sorted([*files, stage / layout.PATTERN_TABLE]):
            target = out_dir / path.relative_to(stage)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return rows


def _finish(
    out_dir: Path, rows: list[dict], kept: list[dict], config: Config, options: PrepareOptions, registration: str
) -> None:
    """The index and the directory's provenance, written last: a directory with cohort.tsv is complete."""
    flagged = [r for r in rows if r.get("registration_qc") not in ("", None) and r["registration_qc"] < MIN_QC]
    for r in flagged:
        console.print(
            f"[yellow]{layout.key_of(r)}: registration to MNI152 looks poor (QC r = {r['registration_qc']:.2f}"
            f" < {MIN_QC}); check sub-X_desc-*_xfm.json and the maps before training on it"
        )
    index = sorted(rows + kept, key=lambda r: (r["participant_id"], layout.session_of(r) or ""))
    columns = layout.index_columns(layout.COHORT_COLUMNS, index, extra=(layout.PAIRING_COLUMN,))
    if layout.SESSION_COLUMN in columns:  # BIDS spelling: ses-Y, or n/a for a row without a session
        index = [{layout.PAIRING_COLUMN: "n/a", **layout.with_session(r)} for r in index]
    write_tsv(out_dir / "cohort.tsv", index, columns)
    write_text(out_dir / "config.yaml", dump_config(config))
    write_json(out_dir / "dataset_description.json", _description(options, config, registration))
    write_text(out_dir / ".bidsignore", layout.bidsignore_text())
    for m in MODALITIES:  # BIDS-Derivatives: a custom space needs a SpatialReference (here, inherited)
        write_json(out_dir / layout.grid_mask_sidecar(m), _grid_mask_sidecar(m))
        write_json(out_dir / layout.grid_tissue_sidecar(m), _grid_tissue_sidecar(m))


def resolve_registration(requested: str, bids_dir: Path, subjects: list[SubjectInputs]) -> str:
    """``auto``: no registration when every input declares an MNI152 space (a ``space-MNI152…`` file name, as
    fMRIPrep/QSIPrep MNI outputs have) or the dataset's description declares it (``SpatialReference``, as
    `pds simulate` writes: its heads are built in MNI space); otherwise an affine registration."""
    from pds_mri.preprocess.registration import MNI_SPACES, declared_mni

    if requested != "auto":
        return requested
    description = Path(bids_dir) / "dataset_description.json"
    try:
        declared = json.loads(description.read_text()).get("SpatialReference", "")
    except (OSError, ValueError, AttributeError):
        declared = ""
    if isinstance(declared, str) and declared in MNI_SPACES:
        return "none"
    images = [p for s in subjects for p in (s.bold, s.dwi) if p is not None]
    return "none" if images and all(declared_mni(Path(p).name) for p in images) else "affine"


def _prepare_all(
    subjects: list[SubjectInputs],
    config: Config,
    out_dir: Path,
    n_jobs: int,
    registration: str = "none",
    omp_nthreads: int | None = None,
    links: dict[str, str] | None = None,
) -> tuple[list[dict], dict[str, list[InputError]]]:
    """Rows of the subjects that were prepared, and the problems of those that failed (collected, not fatal).

    Workers are spawned, not forked: a forked worker would inherit the output lock's descriptor and hold the
    lock after its parent was killed, refusing every later prepare. Each worker's thread pools are capped
    (`threads.threads_per_process`): n_jobs workers that each took every core would oversubscribe the machine."""
    rows: list[dict] = []
    failed: dict[str, list[InputError]] = {}
    with progress_bar() as bar:
        task = bar.add_task("preparing subjects", total=len(subjects))
        if n_jobs <= 1:
            if omp_nthreads is not None:
                limit_threads(omp_nthreads)
            for subject in subjects:
                job = functools.partial(prepare_subject_safely, subject, config, out_dir, registration, links)
                _collect(subject, job, rows, failed)
                bar.advance(task)
        else:
            context = multiprocessing.get_context("spawn")
            threads = threads_per_process(n_jobs, omp_nthreads)
            with ProcessPoolExecutor(n_jobs, context, initializer=limit_threads, initargs=(threads,)) as pool:
                futures = {
                    pool.submit(prepare_subject_safely, s, config, out_dir, registration, links): s for s in subjects
                }
                for future in as_completed(futures):
                    _collect(futures[future], future.result, rows, failed)
                    bar.advance(task)
    return rows, failed


def _collect(subject: SubjectInputs, result: Callable[[], dict], rows: list[dict], failed: dict) -> None:
    try:
        rows.append(result())
    except InputError as exc:
        failed[subject.row_id] = [exc]
    except BrokenProcessPool:
        raise PdsError("a `pds prepare` worker died (out of memory?); run again with fewer --n-jobs") from None


def prepare_subject_safely(
    subject: SubjectInputs,
    config: Config,
    out_dir: Path,
    registration: str = "none",
    links: dict[str, str] | None = None,
) -> dict:
    """`prepare_subject`, with a failure that validation could not foresee (a map that normalises to nothing,
    a registration that diverges) turned into that subject's one-line problem, collected like the others."""
    try:
        return prepare_subject(subject, config, out_dir, registration, links)
    except InputError:
        raise
    except (PdsError, ValueError, ArithmeticError, np.linalg.LinAlgError, RuntimeError) as exc:
        where = Path(subject.bold or subject.dwi or subject.row_id)
        raise InputError(where, f"{subject.row_id} could not be prepared ({exc})") from None


def prepare_subject(
    subject: SubjectInputs,
    config: Config,
    out_dir: Path,
    registration: str = "none",
    links: dict[str, str] | None = None,
) -> dict:
    """Compute, (register,) resample, mask and normalise one row's maps (a subject, or a subject-session: its
    files then go to sub-X/ses-Y/<datatype>/ and their names start sub-X_ses-Y_); return its cohort.tsv row.
    `links` (`dataset_links`) name the input datasets, for the BIDS URIs of the native maps' Sources."""
    from pds_mri.io.validate import validate_subject
    from pds_mri.preprocess.dmri_maps import dmri_map
    from pds_mri.preprocess.fmri_maps import fmri_map
    from pds_mri.preprocess.masks import brain_mask
    from pds_mri.preprocess.resample import fov_mask, to_grid

    errors, data = validate_subject(subject, config.maps)
    if errors or data is None:  # the inputs changed since the cohort was validated
        raise errors[0] if errors else InputError(subject.participant_id, "could not be read")
    sub, ses = subject.participant_id, subject.session_id
    grids = {"fmri": config.grids.fmri, "dmri": config.grids.dmri}
    kinds = {"fmri": config.maps.fmri_map, "dmri": config.maps.dmri_map}
    native: dict[Modality, nib.Nifti1Image] = {}
    if data.bold_img is not None:
        assert data.tr is not None  # validate_subject reports a BOLD run without a usable TR
        native["fmri"] = fmri_map(data.bold_img, config.maps.fmri_map, data.tr, config.maps, data=data.bold_data)
    if data.dwi_img is not None:
        assert data.bvals is not None and data.bvecs is not None  # ... and a DWI without its gradient table
        native["dmri"] = dmri_map(
            data.dwi_img, data.bvals, data.bvecs, config.maps.dmri_map, config.maps, data=data.dwi_data
        )

    row: dict = {
        "participant_id": sub,
        **({} if ses is None else {layout.SESSION_COLUMN: ses, layout.PAIRING_COLUMN: subject.pairing}),
        "diagnosis": subject.diagnosis or "",
        "age": "" if subject.age is None else subject.age,
        "sex": subject.sex or "",
    }
    to_mni = register_subject(data, registration, row)
    ents = {m: layout.source_entities(subject.bold if m == "fmri" else subject.dwi, m) for m in MODALITIES}
    on_grid: dict[str, np.ndarray] = {}
    masks: dict[str, np.ndarray] = {}
    for m, img in native.items():
        row[f"{m}_native"] = layout.native_map(sub, m, kinds[m], ses, ents[m])
        save_nifti(img, out_dir / row[f"{m}_native"])  # the scan's own affine: overlays it
        write_json(
            out_dir / row[f"{m}_native"].replace(".nii.gz", ".json"), _native_sidecar(subject, m, kinds[m], links or {})
        )
        placed = img if m not in to_mni else in_mni(img, to_mni[m])
        if m in to_mni:
            row[f"{m}_xfm"] = layout.native_to_mni(sub, m, ses, ents[m])
            write_json(out_dir / row[f"{m}_xfm"], _xfm_json(to_mni[m], row))
        resampled = to_grid(placed, grids[m], "continuous")
        on_grid[m] = np.asarray(resampled.dataobj, dtype=np.float32)
        masks[m] = brain_mask(resampled, grids[m]) & fov_mask(placed, grids[m])
    for m in MODALITIES:  # a missing modality borrows the present one's mask, for synthesis later
        if m not in masks:
            other = "dmri" if m == "fmri" else "fmri"
            moved = to_grid(_grid_image(masks[other].astype(np.float32), grids[other].affine), grids[m], "nearest")
            masks[m] = np.asarray(moved.dataobj) > 0.5

    t1w = data.t1w_img
    if t1w is not None and "t1w" in to_mni:
        t1w = in_mni(t1w, to_mni["t1w"])
    tissue, row["tissue_source"] = _tissue(t1w, grids)
    for m in MODALITIES:
        affine = grids[m].affine
        save_nifti(_grid_image(masks[m].astype(np.uint8), affine), out_dir / layout.grid_mask(sub, m, ses))
        row[f"{m}_mask"] = layout.grid_mask(sub, m, ses)
        save_nifti(_grid_image(np.moveaxis(tissue[m], 0, -1), affine), out_dir / layout.grid_tissue(sub, m, ses))
        row[f"{m}_tissue"] = layout.grid_tissue(sub, m, ses)
        if m in on_grid:
            row[m] = layout.grid_map(sub, m, kinds[m], ses, ents[m])
            _write_normalised(out_dir, row[m], m, kinds[m], on_grid[m], masks[m], affine, config, row[f"{m}_native"])
    return row


def register_subject(data: Any, registration: str, row: dict) -> dict[str, np.ndarray]:
    """Per image kind (fmri, dmri, t1w), the subject RAS → MNI RAS matrix; empty without registration.

    With a T1w, its registration places every image of the subject (one session shares the scanner frame);
    without one, or when the row's images come from different sessions (io/sessions.py), each image is
    registered on its own (the T1w on itself). Fills row's registration columns."""
    from pds_mri.preprocess.registration import estimate_to_mni, qc, reference_image

    row.update({"registration": "none", "registration_qc": "", "fmri_xfm": "", "dmri_xfm": ""})
    if registration == "none":
        return {}
    images = {"fmri": data.bold_img, "dmri": data.dwi_img}
    one_frame = getattr(getattr(data, "inputs", None), "one_session", True)
    if data.t1w_img is not None and one_frame:
        reference = reference_image(data.t1w_img)
        matrix = estimate_to_mni(reference)
        row["registration"], row["registration_qc"] = "affine via T1w", round(qc(reference, matrix), 4)
        return {"t1w": matrix, **{m: matrix for m, img in images.items() if img is not None}}
    out, scores = {}, []
    for m, img in images.items():
        if img is not None:
            reference = reference_image(img)
            out[m] = estimate_to_mni(reference)
            scores.append(qc(reference, out[m]))
    row["registration"] = "affine via " + " and ".join(f"mean {'BOLD' if m == 'fmri' else 'DWI'}" for m in out)
    if data.t1w_img is not None:  # sessions differ: the T1w (for the tissue maps) is placed by its own registration
        reference = reference_image(data.t1w_img)
        out["t1w"] = estimate_to_mni(reference)
        scores.append(qc(reference, out["t1w"]))
        row["registration"] += " and T1w, each on its own (the images come from different sessions)"
    row["registration_qc"] = round(min(scores), 4)
    return out


def _xfm_json(matrix: np.ndarray, row: dict) -> dict:
    return {
        "Description": "affine mapping this subject's native world coordinates (RAS mm) to MNI152NLin2009cAsym "
        "(RAS mm): x_mni = M @ [x, y, z, 1]; the native maps keep their own affine",
        "Matrix": np.asarray(matrix).round(8).tolist(),
        "Method": row["registration"] + " (ANTsPy antsRegistration Affine, Mattes MI, to nilearn's MNI152 T1 "
        "template at 4 mm)",
        "QC": row["registration_qc"],
    }


def _write_normalised(
    out_dir: Path,
    name: str,
    m: Modality,
    kind: str,
    x: np.ndarray,
    mask: np.ndarray,
    affine: np.ndarray,
    config: Config,
    native: str,
) -> None:
    """The map on its model grid (`name`, from `layout.grid_map`) and its sidecar: the normalisation, and the
    BIDS-Derivatives keys (the custom grid space's SpatialReference, SkullStripped, Sources)."""
    from pds_mri.preprocess.normalise import fit_normalisation

    norm = fit_normalisation(x, mask, config.maps.norm_percentiles)
    save_nifti(_grid_image(norm.apply(x, mask).astype(np.float32), affine), out_dir / name)
    write_json(
        out_dir / name.replace(".nii.gz", ".json"),
        {
            "SpatialReference": f"bids::{layout.pattern_atlas(m)}",
            "SkullStripped": True,  # set to -1 outside the brain mask
            "Sources": [f"bids::{native}"],
            "Modality": m,
            "Map": kind,
            "Normalisation": norm.to_json(),
            "Description": "robust percentile scaling inside the brain mask: low -> -1, high -> +1, clipped; "
            "outside the mask -1. Invert with x = (y + 1) / 2 * (high - low) + low.",
        },
    )


def _tissue(t1w: nib.Nifti1Image | None, grids: dict) -> tuple[dict[str, np.ndarray], str]:
    from pds_mri.preprocess.priors import mni_tissue_priors, segment_t1w, tissue_on_grid

    if t1w is None:
        return {m: mni_tissue_priors(g) for m, g in grids.items()}, "MNI152 priors"
    segmented = segment_t1w(t1w)
    return {m: tissue_on_grid(segmented, g) for m, g in grids.items()}, "T1w segmentation"


def write_atlas(out_dir: Path, config: Config) -> None:
    """The Dosenbach-160 pattern labels on each model grid, shared by every subject."""
    from pds_mri.preprocess.priors import pattern_labels, pattern_table

    for m in MODALITIES:
        grid = getattr(config.grids, m)
        save_nifti(_grid_image(pattern_labels(grid).astype(np.int16), grid.affine), out_dir / layout.pattern_atlas(m))
    # a BIDS `_dseg.tsv` look-up table: index and name first (BIDS), then what the pattern encoder reads
    table = [{"index": r["label"], "name": f"{r['network']}-{r['label']}", **r} for r in pattern_table()]
    write_tsv(out_dir / layout.PATTERN_TABLE, table, list(table[0]))


def _grid_image(data: np.ndarray, affine: np.ndarray) -> nib.Nifti1Image:
    img = nib.Nifti1Image(data, affine)
    img.header.set_xyzt_units("mm", "sec")
    img.set_sform(affine, code=4)  # MNI152 space
    img.set_qform(affine, code=4)
    return img


def _native_sidecar(subject: SubjectInputs, m: Modality, kind: str, links: dict[str, str]) -> dict:
    """A native map keeps its scan's grid and space (no space entity, so no SpatialReference needed)."""
    scan = subject.bold if m == "fmri" else subject.dwi
    return {
        "Description": f"{kind} map of the input scan, on its own grid and affine, in its units",
        "SkullStripped": False,
        "Sources": [] if scan is None else [source_uri(Path(scan), links)],
    }


def dataset_links(options: PrepareOptions) -> dict[str, str]:
    """DatasetLinks of the prepared dataset: ``raw`` (the input dataset; a manifest's folder) and ``deriv1``,
    ``deriv2``... (each ``--derivatives`` input), as file URIs, the names its Sources' BIDS URIs use."""
    raw = Path(options.bids_dir).resolve()
    links = {"raw": (raw if raw.is_dir() else raw.parent).as_uri()}
    links.update({f"deriv{i}": Path(d).resolve().as_uri() for i, d in enumerate(options.derivatives, 1)})
    return links


def source_uri(path: Path, links: dict[str, str]) -> str:
    """``bids:<dataset>:<relative path>`` of an input file, through the deepest linked dataset that holds it
    (a derivatives folder inside the raw dataset is its own dataset); a file URI when none does."""
    resolved = Path(path).resolve()
    from urllib.parse import unquote, urlparse

    roots = [(name, Path(unquote(urlparse(uri).path))) for name, uri in links.items()]
    holding = [(len(root.parts), name, root) for name, root in roots if resolved.is_relative_to(root)]
    if not holding:
        return resolved.as_uri()
    _, name, root = max(holding)
    return f"bids:{name}:{resolved.relative_to(root).as_posix()}"


def _grid_mask_sidecar(modality: Modality) -> dict:
    return {
        "SpatialReference": f"bids::{layout.pattern_atlas(modality)}",
        "Description": f"brain mask on the {modality} model grid ({layout.grid_space(modality)}: the grid of "
        "the atlas file named by SpatialReference, in MNI152NLin2009cAsym world coordinates)",
        "Type": "Brain",
    }


def _grid_tissue_sidecar(modality: Modality) -> dict:
    return {
        "SpatialReference": f"bids::{layout.pattern_atlas(modality)}",
        "Description": f"tissue probabilities on the {modality} model grid, one volume per class",
        "Labels": {str(i): name for i, name in enumerate(layout.TISSUES)},  # volume index -> class
    }


def _description(options: PrepareOptions, config: Config, registration: str) -> dict:
    opts = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(options).items() if k != "extra"}
    opts["derivatives"] = [str(d) for d in options.derivatives]
    opts["fmri_map"], opts["dmri_map"] = config.maps.fmri_map, config.maps.dmri_map  # as resolved, not as typed
    opts["preset"] = config.preset
    return {
        "Name": "pds-mri prepared maps",
        "BIDSVersion": layout.DERIVATIVES_BIDS_VERSION,
        "DatasetType": "derivative",
        "GeneratedBy": dataset_generated_by(
            "pds prepare", CommandLine=" ".join(shlex.quote(a) for a in sys.argv), Options=opts
        ),
        "SourceDatasets": [{"URL": Path(options.bids_dir).resolve().as_uri()}]
        + [{"URL": Path(d).resolve().as_uri(), "Description": "--derivatives input"} for d in options.derivatives],
        "DatasetLinks": dataset_links(options),  # the names of the BIDS URIs in the native maps' Sources
        "Registration": SPACE_NOTE[registration],
        "Grids": config.grids.model_dump(mode="json"),
    }


def _refuse_inside_input(options: PrepareOptions, subjects: list[SubjectInputs]) -> None:
    """Inputs are never modified: the output may not be, or lie inside, the dataset, a derivatives folder, or
    the folder of a manifest, nor hold any input image."""
    from pds_mri.io.output_place import check_output_apart

    bids = Path(options.bids_dir)
    roles: dict[str, Path | None] = {"input dataset": bids}
    roles |= {f"derivatives folder {i + 1}": d for i, d in enumerate(options.derivatives)}
    check_output_apart(options.out_dir, roles, bids_root=bids if bids.is_dir() else None)
    images = {p for s in subjects for p in (s.bold, s.dwi, s.t1w) if p is not None}
    for image in sorted(images, key=str):
        check_output_apart(options.out_dir, {"input image": Path(image)})
