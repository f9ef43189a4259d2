"""`pds train`: stage 1 (pattern-aware conditional diffusion) then stage 2 (tissue + microstructure refiners).

`--model` picks PDS, an ablation or a baseline (the registry, `pds_mri.workflows.models`): all share the data,
the subject-level split, the grids and the stage-1 budget (steps × batch); baselines train one stage.

Runs unchanged under torchrun: the trainer shards batches by rank and rank 0 writes checkpoints and logs.
Only subjects with both modalities are trained on; the split is subject-level and recorded in RUN_DIR.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

from pds_mri.config import Config, dump_config, load_config, load_own_config
from pds_mri.config import preset as load_preset
from pds_mri.disease.run_priors import RunPriors
from pds_mri.errors import PdsError
from pds_mri.io.atomic import make_dir, write_json, write_text
from pds_mri.io.layout import PREPARED_CONFIG, key_of
from pds_mri.io.run_layout import RunDir
from pds_mri.progress import console
from pds_mri.report.markdown.model_card import model_card
from pds_mri.training.data import PreparedCohort


@dataclass(frozen=True)
class TrainOptions:
    prepared_dir: Path
    run_dir: Path
    preset: str | None = None  # None: the prepared directory's preset (workflows/presets.py)
    config: Path | None = None
    model: str = "pds"
    resume: bool = False
    seed: int = 0
    fold: int = 0
    folds: int = 1
    stage: str = "all"  # all | 1 | 2
    steps: int | None = None  # override both stages' steps (quick runs)
    stage1_from: Path | None = None  # stage 2 starts from this run's stage-1 weights (shared-stage-1 ablations)
    deterministic: bool = False  # deterministic cuDNN/cuBLAS, no TF32 (pds_mri.backends); default TF32 on CUDA
    device: str = "auto"  # auto | cpu | cuda | mps (`--device`); auto = CUDA when available


def resolve_train_config(options: TrainOptions) -> Config:
    """Preset (+ YAML) for the model and training; grids and maps always come from the prepared directory."""
    from pds_mri.workflows.run import apply_overrides, load_run_config, model_spec, read_model_name

    spec = model_spec(options.model)
    if options.resume and RunDir(options.run_dir).config.is_file():
        saved = read_model_name(options.run_dir)
        if saved != spec.name:
            raise PdsError(f"{options.run_dir} holds a '{saved}' run; resume it with --model {saved}")
        return load_run_config(options.run_dir)
    from pds_mri.workflows.presets import prepared_preset

    name = prepared_preset(options.preset, options.prepared_dir)
    base = load_config(options.config, name) if options.config else load_preset(name)
    prepared_cfg = Path(options.prepared_dir) / PREPARED_CONFIG
    if not prepared_cfg.is_file():
        raise PdsError(f"{options.prepared_dir}: not a prepared directory (config.yaml missing); run `pds prepare`")
    prepared = load_own_config(prepared_cfg, "pds prepare")
    values = base.model_dump(mode="json")
    values["grids"], values["maps"] = prepared.grids.model_dump(mode="json"), prepared.maps.model_dump(mode="json")
    values["model"] = apply_overrides(values["model"], spec.overrides)
    for stage in ("stage1", "stage2"):
        values["training"][stage]["seed"] = options.seed
        if options.steps is not None:
            stage_cfg = values["training"][stage]
            stage_cfg["steps"] = options.steps
            stage_cfg["warmup_steps"] = min(stage_cfg["warmup_steps"], max(1, options.steps // 10))
    return Config.model_validate(values)


def run_train(options: TrainOptions) -> Path:
    from pds_mri.backends import configure_backends
    from pds_mri.families import family
    from pds_mri.io.output_place import check_output_apart
    from pds_mri.training.checkpoint import checkpoint_dir, checkpoint_exists
    from pds_mri.training.data import PreparedCohort, check_prepared_files, collate, read_cohort
    from pds_mri.training.distributed import init_distributed, lock_out_dir
    from pds_mri.training.faults import distributed_job
    from pds_mri.training.signals import stop_on_signals
    from pds_mri.training.split import read_split, split_subjects, write_split
    from pds_mri.training.trainer import Trainer, seed_everything
    from pds_mri.training.validation import make_validate
    from pds_mri.workflows.run import cohort_normalisation, model_spec, write_model_file

    configure_backends(options.deterministic)
    spec = model_spec(options.model)
    model_family = family(spec.family)
    if spec.resynthesis is not None:
        raise PdsError(
            f"--model {spec.name} is benchmark only ({spec.resynthesis.describe()}): train --model "
            f"{spec.resynthesis.trained} and synthesise that run with the options you want"
        )
    if options.stage not in ("all", "1", "2"):
        raise PdsError(f"--stage {options.stage}: choose all, 1 or 2")
    if options.stage != "all" and f"stage{options.stage}" not in model_family.STAGES:
        raise PdsError(f"--model {spec.name} has one stage; use --stage all or 1")
    if options.stage1_from is not None and options.stage != "2":
        raise PdsError("--stage1-from trains stage 2 only; add --stage 2")
    run_dir = Path(options.run_dir)
    run = RunDir(run_dir)
    check_output_apart(
        run_dir, {"prepared directory": Path(options.prepared_dir)}, {"stage-1 run": options.stage1_from}
    )
    existing = run.config.is_file()
    if existing and not options.resume and options.stage != "2":
        raise PdsError(f"{run_dir} already holds a training run; pass --resume to continue it or use a new RUN_DIR")
    if existing:  # continue the run with its own config (resolve_train_config also checks the model name)
        config = resolve_train_config(replace(options, resume=True))
        if options.config is not None:
            check_same_config(run_dir, config, resolve_train_config(replace(options, resume=False)))
    else:
        config = resolve_train_config(options)
    # every read-only check before RUN_DIR is touched: a refused train creates nothing
    rows = read_cohort(options.prepared_dir)
    paired = [r for r in rows if r.get("fmri") and r.get("dmri")]
    if len(paired) < 2:
        raise PdsError(f"{options.prepared_dir}: {len(paired)} subject(s) have both modalities; need >= 2")
    # read_cohort refuses rows without a participant_id; a row is a (participant, session)
    full = PreparedCohort(options.prepared_dir, [key_of(r) for r in paired])
    check_prepared_files(Path(options.prepared_dir), paired)
    info = init_distributed(options.device)
    locks = contextlib.ExitStack()
    with distributed_job(info), stop_on_signals(), locks:
        lock_out_dir(locks, run_dir, info, "train")
        if existing:  # continuing a run: its own split, never one recomputed from today's prepared directory
            split = read_split(run_dir)
        else:
            split = split_subjects(
                full.row_ids,
                full.diagnoses,
                fold=options.fold,
                folds=options.folds,
                seed=options.seed,
                val_fraction=config.training.val_fraction,
                groups=full.participant_ids,  # two sessions of one subject never land in two sets
            )
        if info.is_main and not existing:
            make_dir(run_dir)
            write_text(run.config, dump_config(config))
            write_model_file(run_dir, spec, config)
            write_split(run_dir, split, fold=options.fold, folds=options.folds, seed=options.seed)
            write_json(run.normalisation, cohort_normalisation(options.prepared_dir, split["train"]))
        console.print(
            f"training on {len(split['train'])} subjects, validating on {len(split['val'])}, "
            f"{len(split['test'])} held out for testing (device {info.device}, {info.world_size} process(es))"
        )
        seed_everything(options.seed)
        training = model_family.start_training(config, options.prepared_dir)
        train_set = PreparedCohort(options.prepared_dir, split["train"])
        val_ids = (split["val"] or split["train"])[: config.training.max_val_subjects]
        val_set = PreparedCohort(options.prepared_dir, val_ids)
        priors = (
            disease_priors(run_dir, config, train_set, split["train"], existing, info.is_main)
            if model_family.uses_priors
            else RunPriors()
        )
        metrics: dict[str, dict] = {}
        wanted = training.stages() if options.stage == "all" else (f"stage{options.stage}",)
        stages = tuple(s for s in wanted if s in training.stages())
        for stage in stages:
            objective = training.objective(stage, run_dir, priors, options.stage1_from)
            stage_cfg = training.trainer_config(stage)
            validate = make_validate(val_set, config, partial(training.validation_synthesizer, stage), priors, info)
            trainer = Trainer(
                objective,
                lambda model, batch, generator: model(batch, generator),
                train_set,
                run.stage(stage),
                stage_cfg,
                validate,
                info,
                collate_fn=collate,
                run_config=config,
            )
            resume = options.resume and checkpoint_exists(checkpoint_dir(run.stage(stage), "last"))
            console.rule(f"{stage}: {stage_cfg.steps} steps" + (" (resumed)" if resume else ""))
            result = trainer.train(resume=resume)
            metrics[stage] = {"best_psnr": result.best_metric, "best_step": result.best_step, "steps": result.step}
        if info.is_main:
            card = model_card(config, rows, split, metrics, options, spec, model_family.card_lines(config))
            write_text(run.model_card, card)
            console.print(f"run written to {run_dir}")
    return run_dir


def check_same_config(run_dir: Path, saved: Config, requested: Config) -> None:
    """A run continued (--resume, or --stage 2 into it) with a --config trains what it was started with: a
    --config, --seed or --steps that would change it is an error naming the first differing field, never
    silently ignored. Without --config the run's own config.yaml is used as it is."""
    a, b = _flatten(saved.model_dump(mode="json")), _flatten(requested.model_dump(mode="json"))
    differ = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    if differ:
        key = differ[0]
        raise PdsError(
            f"{run_dir}: its config.yaml has {key} = {a.get(key)!r} but this command asks for {b.get(key)!r}; "
            "continue it with the options it was started with, or train into a new RUN_DIR"
        )


def _flatten(values: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        out |= _flatten(value, f"{name}.") if isinstance(value, dict) else {name: value}
    return out


def disease_priors(
    run_dir: Path, config: Config, train_set: PreparedCohort, train_ids: list[str], existing: bool, is_main: bool
) -> RunPriors:
    """The run's disease-informed priors: fitted on its TRAINING subjects when the run starts (every rank fits
    the same deterministic numbers; the main rank writes them), read back when it continues."""
    from pds_mri.disease.run_priors import fit_run_priors, load_run_priors, wanted
    from pds_mri.training.data import DIRECTIONS

    use_state, use_maps = wanted(config.model)
    if not (use_state or use_maps):
        return RunPriors()
    if existing:
        return load_run_priors(run_dir, config.model, train_ids)
    items = [train_set[i] for i in range(len(train_set))]
    priors = fit_run_priors(items, train_set.row_ids, DIRECTIONS, state=use_state, maps=use_maps)
    if is_main:
        priors.save(run_dir)
        console.print(
            f"disease priors fitted on the {len(items)} training subjects: "
            + ", ".join(n for n, on in (("source-only disease state", use_state), ("disease map", use_maps)) if on)
        )
    return priors
