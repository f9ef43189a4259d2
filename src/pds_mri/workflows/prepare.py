"""`pds prepare`: from BIDS (or a manifest) to validated, normalised maps on the model grids + cohort.tsv.

Every input is validated first and all problems are reported at once (nnU-Net style); then each subject
is processed independently, so `--n-jobs` parallelises over subjects and a re-run overwrites atomically.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pds_mri.config import Config, dump_config, load_config
from pds_mri.config import preset as load_preset
from pds_mri.domain import MODALITIES, REGISTRATIONS
from pds_mri.errors import CohortError, InputError, PdsError
from pds_mri.io import layout
from pds_mri.io.atomic import output_lock, write_json, write_text, write_tsv
from pds_mri.io.inputs import SubjectInputs
from pds_mri.io.prepared_index import kept_rows
from pds_mri.io.prepared_sidecars import dataset_links, grid_mask_sidecar, grid_tissue_sidecar
from pds_mri.preprocess.atlas import write_atlas
from pds_mri.preprocess.cohort_jobs import prepare_all
from pds_mri.preprocess.registration import registration_findings
from pds_mri.preprocess.subject_registration import SPACE_NOTE, resolve_registration
from pds_mri.progress import console
from pds_mri.provenance import dataset_generated_by

STAGING = ".staging"  # OUT_DIR/.staging: this run's subject files until every subject has succeeded


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
    registration: str = "auto"  # auto | none | affine | syn (preprocess/registration.py)


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
    kept = kept_rows(options.out_dir, options.participant_labels, options.session_labels, config, subjects)
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


def _prepare_staged(
    subjects: list[SubjectInputs], config: Config, out_dir: Path, options: PrepareOptions, registration: str
) -> list[dict]:
    """Every subject is written to OUT_DIR/.staging first; only when all succeeded (or, with --skip-invalid,
    the rest) are the files moved in, so a subject failing late leaves the earlier outputs as they were."""
    stage = out_dir / STAGING
    shutil.rmtree(stage, ignore_errors=True)
    try:
        rows, failed = prepare_all(
            subjects,
            config,
            stage,
            options.n_jobs,
            registration,
            options.omp_nthreads,
            dataset_links(options.bids_dir, options.derivatives),
            out_dir if (out_dir / layout.COHORT_TSV).is_file() else None,  # re-uses its transforms
        )
        _drop_invalid(subjects, failed, options.skip_invalid)
        write_atlas(stage, config)
        # not a failed subject's leftovers
        folders = [*layout.ATLAS_DIRS, *(layout.row_folder(r["participant_id"], layout.session_of(r)) for r in rows)]
        files = [p for folder in folders for p in (stage / folder).rglob("*") if p.is_file()]
        _remove_stale(out_dir, stage, [f for f in folders if f not in layout.ATLAS_DIRS], files)
        for path in sorted([*files, stage / layout.PATTERN_TABLE]):
            target = out_dir / path.relative_to(stage)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return rows


def _remove_stale(out_dir: Path, stage: Path, row_folders: list[str], new_files: list[Path]) -> None:
    """Files an earlier run wrote for a row prepared again that this run does not write (e.g. the SyN warps
    of a row now registered affinely): left, they would sit beside the new outputs as if they belonged."""
    keep = {out_dir / p.relative_to(stage) for p in new_files}
    for folder in row_folders:
        old = out_dir / folder
        for path in sorted(old.rglob("*")) if old.is_dir() else []:
            nested = path.relative_to(old).parts[0].startswith("ses-") and not folder.count("/")
            if path.is_file() and path not in keep and not nested:  # a session row's files are its own rows'
                path.unlink()


def _finish(
    out_dir: Path, rows: list[dict], kept: list[dict], config: Config, options: PrepareOptions, registration: str
) -> None:
    """The index and the directory's provenance, written last: a directory with cohort.tsv is complete."""
    for r in rows:
        qc, dice = (None if r.get(c) in ("", None) else float(r[c]) for c in ("registration_qc", "registration_dice"))
        for finding in registration_findings(qc, dice, str(r.get("registration", ""))):
            console.print(
                f"[yellow]{layout.key_of(r)}: {finding}; check its *_xfm.json and its QC page (`pds report`) "
                "before training on it"
            )
    index = sorted(rows + kept, key=lambda r: (r["participant_id"], layout.session_of(r) or ""))
    columns = layout.index_columns(layout.COHORT_COLUMNS, index, extra=(layout.PAIRING_COLUMN,))
    if layout.SESSION_COLUMN in columns:  # BIDS spelling: ses-Y, or n/a for a row without a session
        index = [{layout.PAIRING_COLUMN: "n/a", **layout.with_session(r)} for r in index]
    write_tsv(out_dir / layout.COHORT_TSV, index, columns)
    write_text(out_dir / layout.PREPARED_CONFIG, dump_config(config))
    write_json(out_dir / "dataset_description.json", _description(options, config, registration))
    write_text(out_dir / ".bidsignore", layout.bidsignore_text())
    for m in MODALITIES:  # BIDS-Derivatives: a custom space needs a SpatialReference (here, inherited)
        write_json(out_dir / layout.grid_mask_sidecar(m), grid_mask_sidecar(m))
        write_json(out_dir / layout.grid_tissue_sidecar(m), grid_tissue_sidecar(m))


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
        # the names of the BIDS URIs in the native maps' Sources
        "DatasetLinks": dataset_links(options.bids_dir, options.derivatives),
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
