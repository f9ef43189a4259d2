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
row per subject (or subject-session: then with a session_id column) and direction, written by
`io/synthesis_writer.py`. Under torchrun subjects are sharded by rank.
"""

from __future__ import annotations

import contextlib
import shutil
import time
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from pds_mri.disease.run_priors import RunPriors, load_run_priors
from pds_mri.domain import DIRECTION_CHOICES
from pds_mri.errors import PdsError
from pds_mri.io.layout import key_of
from pds_mri.io.run_layout import RunDir
from pds_mri.io.synthesis_writer import (
    dataset_description,
    native_to_mni_transform,
    synthesis_provenance,
    write_index,
    write_subject,
)
from pds_mri.models.pds import SYNTHESIS_MODES
from pds_mri.progress import console, progress_bar


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
    from pds_mri.workflows.calibrate import read_uncertainty_scale, sidecar_scales
    from pds_mri.workflows.run import check_run_fits_input, load_trained_model, read_run_normalisation

    check_output_apart(
        Path(options.out_dir), {"prepared directory": Path(options.input_dir)}, {"run directory": Path(options.run_dir)}
    )
    configure_backends(options.deterministic)
    if options.samples < 1:
        raise PdsError("--samples must be >= 1")
    if options.mode is not None and options.mode not in SYNTHESIS_MODES:
        raise PdsError(f"--mode {options.mode}: choose one of {', '.join(SYNTHESIS_MODES)}")
    # the run's checked calibration (`pds calibrate`), read before anything is written; none to apply with
    # --no-uncertainty-scale or a single sample (no std to scale)
    use_scale = options.uncertainty_scale and options.samples > 1
    scale_file = read_uncertainty_scale(Path(options.run_dir)) if use_scale else None
    scales = sidecar_scales(scale_file)
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
                diagnosis_used = bool(
                    synthesizer.uses_conditioning
                    and config.model.use_diagnosis
                    and options.use_diagnosis
                    and int(batch["diagnosis"][0]) >= 0
                )
                provenance = synthesis_provenance(
                    direction=direction,
                    model=loaded.model,
                    checkpoint={"run_dir": str(options.run_dir), "stage": loaded.stage, "sha256": loaded.sha256},
                    sampling=sampling,
                    seed=options.seed,
                    subject_seed=subject_seed(options.seed, key_of(row), direction),
                    diagnosis_used=diagnosis_used,
                    disease_state=None if estimate is None else [float(p) for p in estimate[0]],
                    fitted_subjects=len(priors.fitted_on),
                    uncertainty_scale=scales.get(direction) if options.samples > 1 else None,
                    seconds=seconds,
                    config=config,
                )
                written.append(
                    write_subject(
                        Path(options.out_dir),
                        Path(options.input_dir),
                        row,
                        direction,
                        mean[0, 0].cpu().numpy(),
                        std[0, 0].cpu().numpy(),
                        item,
                        norms,
                        provenance,
                        [d[0, 0].cpu().numpy() for d in drawn],
                        with_uncertainty=options.samples > 1,
                    )
                )
                bar.advance(task)
        everything = [r for part in gather_objects(written, info) for r in part]
        if info.is_main:
            run = Path(options.model_archive or options.run_dir)
            index = write_index(Path(options.out_dir), everything, dataset_description(Path(options.input_dir), run))
            console.print(f"synthesised {len(everything)} map(s) -> {index}")
        barrier(info)
        outcome["finished"] = True
    return everything


def preflight(in_dir: Path, row: dict, direction: str) -> None:
    """Every file one synthesis will read, checked before OUT_DIR exists: a damaged prepared directory is
    refused up front rather than after half the subjects."""
    from pds_mri.training.data import check_item_files, direction_modalities

    check_item_files(in_dir, row, direction, native=True)
    native_to_mni_transform(in_dir, row, direction_modalities(direction)[0])  # with its warps, after SyN


def _remove_if_failed(out_dir: Path, created: bool, outcome: dict) -> None:
    """A synthesis that created OUT_DIR and then failed or was interrupted leaves no folder behind."""
    if created and not outcome.get("finished"):
        shutil.rmtree(out_dir, ignore_errors=True)
