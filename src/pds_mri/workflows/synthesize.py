"""`pds synthesize`: the missing modality of each subject, on the model grid and in the subject's own space.

Output per subject, a BIDS-Derivatives dataset (OUT_DIR/sub-X/<func|dwi>/; a session row's in
OUT_DIR/sub-X/ses-Y/<func|dwi>/, names starting sub-X_ses-Y_; names from `layout.synthesis_name`):
  ..._space-<target>grid_desc-<map>Synth_<suffix>.nii.gz     synthesis on the model grid, [-1, 1] scale
  ..._space-<target>grid_desc-<map>Synth_<suffix>.json       its sidecar + provenance (checkpoint hash, config,
                                                             steps, seed, ...)
  ..._space-native_desc-<map>Synth_<suffix>.nii.gz           the same in input units on the source's native grid,
                                                             so it overlays the subject's real scan in a viewer
  ..._space-<...>_desc-<map>SynthStd_<suffix>.nii.gz         voxel-wise std over --samples N (N > 1)
  ..._space-<target>grid_desc-<map>SynthSamples_<suffix>.nii.gz  the N posterior samples (4D; --save-samples)
each image with a JSON sidecar (SpatialReference, SkullStripped, Sources), and OUT_DIR/synthesized.tsv, one
row per subject (or subject-session: then with a session_id column) and direction. Under torchrun subjects are
sharded by rank.
"""

from __future__ import annotations

import contextlib
import functools
import json
import shutil
import time
import zlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import torch

from pds_mri.config import dump_config
from pds_mri.disease.run_priors import RunPriors, load_run_priors
from pds_mri.disease.state import CLASSES
from pds_mri.domain import DIRECTION_CHOICES
from pds_mri.errors import PdsError
from pds_mri.io.atomic import save_nifti, write_json, write_text, write_tsv
from pds_mri.io.layout import (
    DERIVATIVES_BIDS_VERSION,
    SESSION_COLUMN,
    bidsignore_text,
    index_columns,
    key_of,
    session_of,
    synthesis_name,
    with_session,
)
from pds_mri.io.nifti import load_nifti
from pds_mri.io.run_layout import SYNTH_TSV, RunDir
from pds_mri.models.pds import SYNTHESIS_MODES
from pds_mri.progress import console, progress_bar
from pds_mri.provenance import dataset_generated_by, generated_by

SYNTH_COLUMNS = (
    "participant_id",
    "direction",
    "source",
    "target",
    "synthesis",
    "synthesis_native",
    "uncertainty",
    "uncertainty_native",
    "sidecar",
    "mode",
    "samples",
)


@dataclass(frozen=True)
class SynthesizeOptions:
    run_dir: Path
    input_dir: Path
    out_dir: Path
    direction: str = "auto"
    steps: int | None = None
    samples: int = 1
    guidance: float | None = None
    seed: int = 0
    use_diagnosis: bool = False  # label-free by default: imputations must not encode the label
    participant_labels: tuple[str, ...] = ()
    mode: str | None = None  # mean | sample; None = the run's config (model.diffusion.mode)
    save_samples: bool = False  # also write the posterior samples (4D, model grid)
    disease_state: bool = True  # label-free syntheses use the run's source-only disease estimate, if it has one
    deterministic: bool = False  # byte-identical GPU syntheses (pds_mri.backends); default TF32 on CUDA
    device: str = "auto"  # auto | cpu | cuda | mps (`--device`); auto = CUDA when available
    model_archive: Path | None = None  # set when run_dir was unpacked from this `pds export` archive
    uncertainty_scale: bool = True  # multiply the std by the run's uncertainty_scale.json (`pds calibrate`), if any


def plan(rows: list[dict], direction: str) -> list[tuple[dict, str]]:
    """(row, direction) pairs: `auto` synthesises exactly what each subject lacks."""
    if direction not in DIRECTION_CHOICES:
        raise PdsError(f"--direction {direction}: choose one of {', '.join(DIRECTION_CHOICES)}")
    jobs = []
    for row in rows:
        has_f, has_d = bool(row.get("fmri")), bool(row.get("dmri"))
        if direction == "auto":
            if has_f and not has_d:
                jobs.append((row, "fmri2dmri"))
            elif has_d and not has_f:
                jobs.append((row, "dmri2fmri"))
        elif (direction == "fmri2dmri" and has_f) or (direction == "dmri2fmri" and has_d):
            jobs.append((row, direction))
    return jobs


def merge_index(index: Path, new_rows: list[dict]) -> list[dict]:
    """Rows of an earlier run into the same OUT_DIR stay listed, unless this run rewrote that subject and
    direction: several calls (one direction each, or a few subjects at a time) build one index."""
    import csv

    rows = {(key_of(r), r["direction"]): r for r in new_rows}
    if index.is_file():
        for old in csv.DictReader(index.read_text().splitlines(), delimiter="\t"):
            key = (key_of(old) if old.get("participant_id") else "", old.get("direction", ""))
            if key not in rows and all((Path(index.parent) / old[c]).is_file() for c in ("synthesis", "sidecar")):
                rows[key] = {c: old.get(c, "") for c in (*SYNTH_COLUMNS, SESSION_COLUMN)}
    return [rows[k] for k in sorted(rows)]


def run_train_ids(run_dir: Path) -> list[str] | None:
    """The run's training subjects (split.json), which its priors must have been fitted on; None without a split."""
    from pds_mri.training.split import read_split

    if not RunDir(run_dir).split.is_file():
        return None
    return list(read_split(Path(run_dir))["train"])


def subject_seed(seed: int, participant_id: str, direction: str) -> int:
    """Per-row seed independent of sharding and ordering, so torchrun gives the same files; `participant_id`
    is the row id (`layout.key_of`: a session row has its own)."""
    return (seed * 1_000_003 + zlib.crc32(f"{participant_id}/{direction}".encode())) % (2**63)


def run_synthesize(options: SynthesizeOptions) -> list[dict]:
    """Synthesise with a run directory, or with a model archive from `pds export` (unpacked for the call)."""
    from pds_mri.workflows.export import is_model_archive, unpacked_model

    if is_model_archive(options.run_dir):
        with unpacked_model(options.run_dir) as run_dir:
            return _synthesize(replace(options, run_dir=run_dir, model_archive=Path(options.run_dir)))
    return _synthesize(options)


def _synthesize(options: SynthesizeOptions) -> list[dict]:
    from pds_mri.backends import configure_backends
    from pds_mri.io.output_place import check_output_apart
    from pds_mri.training.data import AtlasCache, collate_direction, load_direction_item, read_cohort
    from pds_mri.training.distributed import (
        barrier,
        gather_objects,
        init_distributed,
        lock_out_dir,
        shard,
    )
    from pds_mri.training.faults import distributed_job
    from pds_mri.workflows.run import check_run_fits_input, load_trained_model, read_run_normalisation

    check_output_apart(
        Path(options.out_dir), {"prepared directory": Path(options.input_dir)}, {"run directory": Path(options.run_dir)}
    )
    configure_backends(options.deterministic)
    if options.samples < 1:
        raise PdsError("--samples must be >= 1")
    if options.mode is not None and options.mode not in SYNTHESIS_MODES:
        raise PdsError(f"--mode {options.mode}: choose one of {', '.join(SYNTHESIS_MODES)}")
    scale_file = _uncertainty_scale_file(options)  # checked before anything is written
    scales = _sidecar_scales(scale_file)
    info = init_distributed(options.device)
    locks = contextlib.ExitStack()
    outcome: dict[str, bool] = {}
    with distributed_job(info), locks:
        loaded = load_trained_model(options.run_dir, options.input_dir, info.device)
        config, synthesizer = loaded.config, loaded.synthesizer
        check_run_fits_input(Path(options.run_dir), config, Path(options.input_dir))
        if scale_file is not None:
            from pds_mri.workflows.calibrate import check_scale_fits

            check_scale_fits(Path(options.run_dir), scale_file, loaded.sha256, options.samples)
        sampling = synthesizer.sampling(options.steps, options.samples, options.guidance, options.mode)
        norms = read_run_normalisation(Path(options.run_dir))
        priors = (
            load_run_priors(Path(options.run_dir), config.model, run_train_ids(options.run_dir))
            if synthesizer.uses_conditioning
            else RunPriors()
        )
        rows = read_cohort(options.input_dir)
        if options.participant_labels:
            # a participant (all its sessions) or one row (sub-X_ses-Y, as split.json lists it)
            wanted = {p if p.startswith("sub-") else f"sub-{p}" for p in options.participant_labels}
            missing = wanted - {r["participant_id"] for r in rows} - {key_of(r) for r in rows}
            if missing:
                raise PdsError(f"{options.input_dir}: participant(s) not in cohort.tsv: {', '.join(sorted(missing))}")
            rows = [r for r in rows if r["participant_id"] in wanted or key_of(r) in wanted]
        jobs = plan(rows, options.direction)
        for row, direction in jobs:
            preflight(Path(options.input_dir), row, direction)
        # everything read-only is checked; only now is OUT_DIR created and locked
        created = not Path(options.out_dir).exists()
        locks.callback(_remove_if_failed, Path(options.out_dir), created and info.is_main, outcome)
        lock_out_dir(locks, Path(options.out_dir), info, "synthesize")
        if not jobs:
            console.print("nothing to synthesise: every subject has both modalities (use --direction to force one)")
        mine = shard(jobs, info.rank, info.world_size)
        atlas = AtlasCache(Path(options.input_dir))
        written = []
        with progress_bar() as bar:
            where = f" (rank {info.rank} of {info.world_size})" if info.distributed else ""
            task = bar.add_task(f"synthesising{where}", total=len(mine))
            for row, direction in mine:
                item = load_direction_item(options.input_dir, row, direction, atlas=atlas)
                batch = {k: v.to(info.device) for k, v in collate_direction([item]).items()}
                estimate = None
                if not options.use_diagnosis:
                    batch["diagnosis"] = torch.full_like(batch["diagnosis"], -1)
                    estimate = priors.attach_estimate(batch, direction) if options.disease_state else None
                generator = torch.Generator(device=info.device).manual_seed(
                    subject_seed(options.seed, key_of(row), direction)
                )
                started = time.perf_counter()
                drawn: list[torch.Tensor] = []
                mean, std = synthesizer.synthesize(
                    batch, sampling, generator, samples_out=drawn if options.save_samples else None
                )
                if direction in scales:
                    std = std * scales[direction]["Value"]
                if mean.is_cuda:
                    torch.cuda.synchronize(mean.device)
                seconds = time.perf_counter() - started
                provenance = {
                    "GeneratedBy": generated_by("pds synthesize"),
                    "Warning": "synthetic image for research; not a diagnostic image",
                    "Direction": direction,
                    "Model": loaded.model,
                    "Checkpoint": {"run_dir": str(options.run_dir), "stage": loaded.stage, "sha256": loaded.sha256},
                    "Sampler": sampling.sampler,
                    "Mode": sampling.mode,
                    "Estimate": sampling.estimate,
                    "Steps": sampling.steps,
                    "MeanSteps": sampling.mean_steps,
                    "Samples": sampling.samples,
                    "NetworkEvaluations": sampling.evaluations,
                    "Guidance": sampling.guidance,
                    "Seed": options.seed,
                    "SubjectSeed": subject_seed(options.seed, key_of(row), direction),
                    "DiagnosisUsed": bool(
                        synthesizer.uses_conditioning
                        and config.model.use_diagnosis
                        and options.use_diagnosis
                        and int(batch["diagnosis"][0]) >= 0
                    ),
                    "DiseaseState": None
                    if estimate is None
                    else {
                        "Probabilities": dict(zip(CLASSES, (round(float(p), 6) for p in estimate[0]), strict=True)),
                        "Source": "source-only classifier fitted on the run's training subjects",
                        "FittedSubjects": len(priors.fitted_on),
                    },
                    "UncertaintyScale": scales.get(direction) if options.samples > 1 else None,
                    "SynthesisSeconds": round(seconds, 6),
                    "Config": json.loads(json.dumps(config.model_dump(mode="json"))),
                }
                written.append(
                    write_subject(
                        options,
                        row,
                        direction,
                        mean[0, 0].cpu().numpy(),
                        std[0, 0].cpu().numpy(),
                        item,
                        norms,
                        provenance,
                        [d[0, 0].cpu().numpy() for d in drawn],
                    )
                )
                bar.advance(task)
        everything = [r for part in gather_objects(written, info) for r in part]
        if info.is_main:
            index = Path(options.out_dir) / SYNTH_TSV
            merged = merge_index(index, everything)
            if any(session_of(r) for r in merged):
                merged = [with_session(r) for r in merged]
            write_tsv(index, merged, index_columns(SYNTH_COLUMNS, merged))
            write_json(Path(options.out_dir) / "dataset_description.json", dataset_description(options))
            write_text(Path(options.out_dir) / ".bidsignore", bidsignore_text())
            console.print(f"synthesised {len(everything)} map(s) -> {index}")
        barrier(info)
        outcome["finished"] = True
    return everything


def _uncertainty_scale_file(options: SynthesizeOptions) -> dict[str, Any] | None:
    """The run's checked calibration (`pds calibrate`), or None: without one, with --no-uncertainty-scale,
    or with a single sample (no std to scale)."""
    from pds_mri.workflows.calibrate import read_uncertainty_scale

    if not options.uncertainty_scale or options.samples < 2:
        return None
    return read_uncertainty_scale(Path(options.run_dir))


def _sidecar_scales(data: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Per direction, the sidecar's `UncertaintyScale` ({Value, File, FittedOn}); empty without a calibration."""
    from pds_mri.workflows.calibrate import SCALE_FILE

    if data is None:
        return {}
    return {
        direction: {
            "Value": float(numbers["scale"]),
            "File": SCALE_FILE,
            "FittedOn": len(numbers.get("subjects", data["fitted_on"])),
        }
        for direction, numbers in data["directions"].items()
    }


def dataset_description(options: SynthesizeOptions) -> dict:
    """OUT_DIR is a BIDS derivative dataset of the prepared maps (made with the run's model)."""
    run_uri = Path(options.model_archive or options.run_dir).resolve().as_uri()  # the archive, not its temp copy
    return {
        "Name": "pds-mri synthesized maps",
        "BIDSVersion": DERIVATIVES_BIDS_VERSION,
        "DatasetType": "derivative",
        "GeneratedBy": dataset_generated_by("pds synthesize"),
        "SourceDatasets": [
            {"URL": Path(options.input_dir).resolve().as_uri(), "Description": "prepared maps (pds prepare)"},
            {"URL": run_uri, "Description": "trained model (pds train)"},
        ],
        # the names of BIDS URIs in the sidecars' "Sources" (bids:prepared:sub-X/...)
        "DatasetLinks": {
            "prepared": Path(options.input_dir).resolve().as_uri(),
            "run": run_uri,
        },
        "Warning": "synthetic images for research; not diagnostic images",
    }


def preflight(in_dir: Path, row: dict, direction: str) -> None:
    """Every file one synthesis will read, checked before OUT_DIR exists: a damaged prepared directory is
    refused up front rather than after half the subjects."""
    from pds_mri.training.data import check_item_files, direction_modalities

    check_item_files(in_dir, row, direction, native=True)
    native_to_mni_matrix(in_dir, row, direction_modalities(direction)[0])


def _remove_if_failed(out_dir: Path, created: bool, outcome: dict) -> None:
    """A synthesis that created OUT_DIR and then failed or was interrupted leaves no folder behind."""
    if created and not outcome.get("finished"):
        shutil.rmtree(out_dir, ignore_errors=True)


def write_subject(
    options: SynthesizeOptions,
    row: dict,
    direction: str,
    mean: np.ndarray,
    std: np.ndarray,
    item: dict,
    norms: dict,
    provenance: dict,
    samples: list[np.ndarray] | None = None,
) -> dict:
    from pds_mri.preprocess.normalise import Normalisation, read_sidecar_normalisation
    from pds_mri.preprocess.registration import in_mni
    from pds_mri.preprocess.resample import to_native
    from pds_mri.training.data import direction_modalities, resolve_cell

    source, target = direction_modalities(direction)
    sub, ses, out_dir, in_dir = row["participant_id"], session_of(row), Path(options.out_dir), Path(options.input_dir)
    grid_ref = load_nifti(resolve_cell(in_dir, row, f"{target}_mask"))
    native_path = resolve_cell(in_dir, row, f"{source}_native")
    native_ref = load_nifti(native_path)
    mask = item["mask"][0].numpy() > 0
    if row.get(target):  # the subject's own scaling, when it has the target (e.g. for evaluation)
        norm, origin = read_sidecar_normalisation(in_dir / row[target].replace(".nii.gz", ".json"))[0], "subject"
    else:
        n = norms[target]
        norm = Normalisation(low=n["low"], high=n["high"], percentiles=tuple(n["percentiles"]))
        origin = f"median of {n['subjects']} training subjects"
    units = np.where(mask, norm.invert(mean), 0.0).astype(np.float32)
    units_std = (std * (norm.high - norm.low) / 2.0).astype(np.float32)
    kind = str(provenance.get("Config", {}).get("maps", {}).get(f"{target}_map", ""))
    # the target's kept entities when the row has it (task, acq, run ...), else the required ones
    named = functools.partial(synthesis_name, sub, ses, kind=kind, entities=target_entities(row, target))
    names = {
        "synthesis": named(f"{target}grid", "synth", target),
        "synthesis_native": named("native", "synth", target),
        "uncertainty": named(f"{target}grid", "synthStd", target),
        "uncertainty_native": named("native", "synthStd", target),
    }
    names["sidecar"] = names["synthesis"].replace(".nii.gz", ".json")  # the provenance: the synthesis's sidecar
    to_mni = native_to_mni_matrix(in_dir, row, source)

    def native(img: nib.Nifti1Image) -> nib.Nifti1Image:
        """Onto the source scan's own grid and affine; through the registration when prepare registered it."""
        if to_mni is None:
            return to_native(img, native_ref)
        out = to_native(img, in_mni(native_ref, to_mni))
        return nib.Nifti1Image(np.asarray(out.dataobj, np.float32), native_ref.affine, out.header)

    save_nifti(_like(mean, grid_ref), out_dir / names["synthesis"])
    save_nifti(native(_like(units, grid_ref)), out_dir / names["synthesis_native"])
    if options.samples > 1:
        save_nifti(_like(std, grid_ref), out_dir / names["uncertainty"])
        save_nifti(native(_like(units_std, grid_ref)), out_dir / names["uncertainty_native"])
    else:
        names["uncertainty"] = names["uncertainty_native"] = ""
    names["samples"] = ""
    if samples:
        names["samples"] = named(f"{target}grid", "synthSamples", target)
        stack = np.stack([np.where(mask, x, -1.0) for x in samples], axis=-1).astype(np.float32)
        img = _like(stack, grid_ref)
        save_nifti(img, out_dir / names["samples"])
        provenance["SamplesFile"] = names["samples"]
    provenance |= {
        "Sources": [f"bids:prepared:{row[source]}"],  # BIDS URI, resolved through DatasetLinks
        # absolute, so `pds report` and viewers find them from any working directory
        "Source": str((in_dir / row[source]).resolve()),
        "NativeReference": str(Path(native_path).resolve()),
        "NativeToMNI": row.get(f"{source}_xfm") or None,
        "Normalisation": {**norm.to_json(), "origin": origin},
    }
    write_image_sidecars(out_dir, names, row, source, target, provenance)
    mode = provenance.get("Mode", "")
    session = {} if ses is None else {SESSION_COLUMN: ses}
    out = {"participant_id": sub, **session, "direction": direction, "source": source, "target": target}
    return out | names | {"mode": mode}


def target_entities(row: dict, target: str) -> dict[str, str]:
    """The entities a row's synthesis keeps: those of its prepared target map, when it has one."""
    from pds_mri.io.layout import KEPT_ENTITIES, entities_of, source_entities

    found = entities_of(row[target]) if row.get(target) else {}
    kept = {k: v for k, v in found.items() if k in KEPT_ENTITIES[target]}
    return kept or source_entities(None, target)  # type: ignore[arg-type]


def write_image_sidecars(out_dir: Path, names: dict, row: dict, source: str, target: str, provenance: dict) -> None:
    """Each synthesized image's BIDS sidecar: SpatialReference of its space (the prepared atlas of the target
    grid; the prepared source map for a native image, whose grid it is on), SkullStripped and Sources (BIDS
    URIs into the prepared dataset). The synthesis's own sidecar also holds the provenance (`names["sidecar"]`):
    BIDS has no place for a JSON without its image."""
    from pds_mri.io.layout import pattern_atlas

    for key in ("synthesis", "synthesis_native", "uncertainty", "uncertainty_native", "samples"):
        if not names.get(key):
            continue
        native = key.endswith("native")
        space = row[f"{source}_native"] if native else pattern_atlas(target)  # type: ignore[arg-type]
        keys = {"SpatialReference": f"bids:prepared:{space}", "SkullStripped": not native}
        extra = provenance if key == "synthesis" else {"Sources": provenance["Sources"]}
        write_json(out_dir / names[key].replace(".nii.gz", ".json"), {**keys, **extra})


def native_to_mni_matrix(in_dir: Path, row: dict, modality: str) -> np.ndarray | None:
    """The registration prepare recorded for a modality (None: its native images were already in MNI)."""
    from pds_mri.errors import InputError

    relative = row.get(f"{modality}_xfm")
    if not relative:
        return None
    from pds_mri.io.json_files import field, read_json

    path = in_dir / relative
    hint = "run `pds prepare` again"
    try:
        matrix = np.asarray(field(read_json(path, "registration", hint), "Matrix", list, path), dtype=np.float64)
    except (ValueError, TypeError):
        raise InputError(path, f"Matrix is not a 4x4 array of numbers; {hint}") from None
    if matrix.shape != (4, 4) or not np.all(np.isfinite(matrix)):
        raise InputError(path, "Matrix must be a finite 4x4 affine")
    return matrix


def _like(data: np.ndarray, reference: nib.Nifti1Image) -> nib.Nifti1Image:
    img = nib.Nifti1Image(np.asarray(data, np.float32), reference.affine)
    img.header.set_xyzt_units("mm", "sec")
    img.set_sform(reference.affine, code=4)
    img.set_qform(reference.affine, code=4)
    return img


def config_text(run_dir: Path) -> str:
    from pds_mri.workflows.run import load_run_config

    return dump_config(load_run_config(run_dir))
