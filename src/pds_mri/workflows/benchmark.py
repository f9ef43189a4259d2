"""`pds benchmark PREPARED_DIR OUT_DIR`: subject-level stratified K-fold cross-validation of every model.

For each fold k and model m (same subjects with both modalities, same split — `split_subjects` with the
benchmark's seed — same preset/config, same stage-1 budget):

1. train with `pds train`'s code (`run_train`) into OUT_DIR/runs/<m>/fold-k (`trained.json` when done);
2. synthesise the fold's test subjects in both directions with `pds synthesize`'s code (`run_synthesize`,
   explicit ``--direction``, diagnosis NOT used) into .../synth-<direction>;
3. score them with `pds evaluate`'s code (`run_evaluate`) into .../eval-<direction>;
4. write .../done.json (per-subject metrics, synthesis seconds per subject, training seconds).

Resumable: a (model, fold) with done.json is skipped (and collected, as are other folds' finished pairs when
``--fold`` limits the run to some folds); a trained run is not retrained; a killed training
continues from its last checkpoint (`resume=True`); synthesis and scoring of an unfinished (model, fold)
are simply redone. ``pds-50steps`` reuses the ``pds`` run of the fold and only synthesises with 50 steps;
``pds-mean4`` (not in the default set) reuses it too and writes the voxel-wise mean of 4 samples: it measures
how much of the gap to a regression model is sampling variance (one draw vs an estimate of the conditional mean).
``pds-no-tissue`` and ``pds-no-micro`` train stage 2 only, on the fold's ``pds`` stage-1 weights: an ablation
of a refiner then differs from PDS in that refiner alone (not also in a second stage-1 training), and it
saves two stage-1 trainings per fold. Their training seconds include the shared stage 1.

OUT_DIR/results.json and results.md (written atomically after every finished (model, fold), so they always
describe what is done): the protocol, folds, seed, per model × direction mean ± std over subjects, paired
differences PDS − model with a 95 % percentile bootstrap CI (10 000 resamples, seeded) and the Wilcoxon
signed-rank p-value, training seconds (optimiser-step time summed over stages, from the checkpoints; it
survives resumes) and synthesis seconds per subject (the network part, from each synthesis sidecar),
plus a flat `table` for the report.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pds_mri.errors import PdsError
from pds_mri.evaluation.benchmark_summary import benchmark_results, model_budgets
from pds_mri.io.atomic import make_dir, write_json, write_text
from pds_mri.io.layout import key_of
from pds_mri.io.result_files import FoldRecord, TrainedRecord, read_record, record_json, result_json
from pds_mri.io.run_layout import BenchmarkDir, FoldDir
from pds_mri.progress import console
from pds_mri.report.markdown.benchmark import results_markdown
from pds_mri.workflows.models import Resynthesis, model_spec, model_specs, resolve_models

DONE = FoldDir.DONE
TRAINED = FoldDir.TRAINED
_REDO = "delete the fold's folder to redo it"


@dataclass(frozen=True)
class BenchmarkOptions:
    prepared_dir: Path
    out_dir: Path
    folds: int = 5
    models: tuple[str, ...] = ()
    preset: str | None = None  # None: the prepared directory's preset (workflows/presets.py)
    config: Path | None = None
    seed: int = 0
    only_folds: tuple[int, ...] = ()  # run just these folds (e.g. one per GPU); finished others are still collected


def fold_dir(out_dir: Path, model: str, fold: int) -> FoldDir:
    return BenchmarkDir(out_dir).fold(model, fold)


def run_benchmark(options: BenchmarkOptions) -> dict[str, Any]:
    from pds_mri.io.output_place import check_output_apart
    from pds_mri.training.data import read_cohort
    from pds_mri.workflows.presets import prepared_preset

    check_output_apart(Path(options.out_dir), {"prepared directory": Path(options.prepared_dir)})
    options = replace(options, preset=prepared_preset(options.preset, options.prepared_dir))
    models = resolve_models(options.models)
    if options.folds < 2:
        raise PdsError(f"--folds {options.folds}: cross-validation needs at least 2 folds")
    outside = sorted(set(options.only_folds) - set(range(options.folds)))
    if outside:
        raise PdsError(f"--fold {outside[0]}: folds are numbered 0 to {options.folds - 1}")
    paired = [r for r in read_cohort(options.prepared_dir) if r.get("fmri") and r.get("dmri")]
    if len(paired) < 2 * options.folds:
        raise PdsError(
            f"{options.prepared_dir}: {len(paired)} subject(s) have both modalities; {options.folds} folds need "
            f"at least {2 * options.folds} (each fold trains on the others and tests on its own)"
        )
    out_dir = Path(options.out_dir)
    make_dir(out_dir)
    records: list[dict[str, Any]] = []
    for fold in range(options.folds):
        for model in models:
            done = fold_dir(out_dir, model, fold).done
            if done.is_file():
                console.print(f"fold {fold}, {model}: done, skipped")
                records.append(record_json(read_record(done, FoldRecord, _REDO)))
                continue
            if options.only_folds and fold not in options.only_folds:
                continue
            console.rule(f"benchmark fold {fold + 1}/{options.folds}: {model}")
            record = record_json(run_one(options, model, fold))
            write_json(done, record)
            records.append(record)
            write_results(options, models, records, len(paired))
    # re-read: processes running other folds (--fold) or models may have finished pairs meanwhile
    finished = [fold_dir(out_dir, m, k).done for k in range(options.folds) for m in models]
    records = [record_json(read_record(done, FoldRecord, _REDO)) for done in finished if done.is_file()]
    return write_results(options, models, records, len(paired))


def run_one(options: BenchmarkOptions, model: str, fold: int) -> FoldRecord:
    """Train (or reuse/resume), synthesise both directions of the fold's test subjects, evaluate."""
    from pds_mri.training.data import DIRECTIONS
    from pds_mri.training.split import read_split
    from pds_mri.workflows.evaluate import run_evaluate
    from pds_mri.workflows.synthesize import SynthesizeOptions, run_synthesize

    resynthesis = model_spec(model).resynthesis or Resynthesis(model)  # the registry, read now: no stale table
    trained_model = resynthesis.trained
    run_dir = fold_dir(options.out_dir, trained_model, fold)
    trained = ensure_trained(options, trained_model, fold, run_dir)
    test = read_split(run_dir.path)["test"]
    if not test:
        raise PdsError(f"{run_dir.path}: the split has no test subjects")
    here = fold_dir(options.out_dir, model, fold)
    rows: list[dict[str, Any]] = []
    for direction in DIRECTIONS:
        synth_dir, eval_dir = here.synthesized(direction), here.evaluation(direction)
        written = run_synthesize(
            SynthesizeOptions(
                run_dir.path,
                options.prepared_dir,
                synth_dir,
                direction=direction,
                steps=resynthesis.steps,
                samples=resynthesis.samples,
                mode=resynthesis.mode,
                seed=options.seed,
                use_diagnosis=False,
                participant_labels=tuple(test),
                guidance=resynthesis.guidance,
                disease_state=resynthesis.disease_state,
            )
        )
        seconds = {
            key_of(r): json.loads((synth_dir / r["sidecar"]).read_text()).get("SynthesisSeconds") for r in written
        }
        payload = run_evaluate(synth_dir, options.prepared_dir, eval_dir, run_dir.path)
        for r in payload["rows"]:
            rows.append({**r, "synth_seconds": seconds.get(key_of(r))})
    return FoldRecord(
        model=model,
        fold=fold,
        trained_model=trained_model,
        run_dir=os.path.relpath(run_dir.path, options.out_dir),
        synthesis_steps=resynthesis.steps,
        synthesis_samples=resynthesis.samples,
        synthesis_mode=resynthesis.mode,
        test_subjects=list(test),
        train_seconds=trained.train_seconds,
        rows=rows,
    )


def ensure_trained(options: BenchmarkOptions, model: str, fold: int, run_dir: FoldDir) -> TrainedRecord:
    """Train `model` for `fold` unless trained.json says it is; resume whatever a killed run left."""
    from pds_mri.workflows.train import TrainOptions, run_train

    marker = run_dir.trained
    if marker.is_file():
        return read_record(marker, TrainedRecord, _REDO)
    source = model_spec(model).stage1_from
    shared_seconds = 0.0
    if source is not None:
        source_dir = fold_dir(options.out_dir, source, fold)
        ensure_trained(options, source, fold, source_dir)
        shared_seconds = training_seconds(source_dir.path, stages=("stage1",))
    resume = run_dir.config.is_file()
    run_train(
        TrainOptions(
            options.prepared_dir,
            run_dir.path,
            preset=options.preset,
            config=options.config,
            model=model,
            resume=resume,
            seed=options.seed,
            fold=fold,
            folds=options.folds,
            stage="all" if source is None else "2",
            stage1_from=None if source is None else source_dir.path,
        )
    )
    info = TrainedRecord(
        model=model,
        fold=fold,
        train_seconds=training_seconds(run_dir.path) + shared_seconds,
        resumed=resume,
        stage1_from=source,
    )
    write_json(marker, record_json(info))
    return info


def shared_runs_of(models: tuple[str, ...]) -> dict[str, str]:
    """What each model that trains less than a full run of its own reuses (results.json's `shared_runs`)."""
    specs = [s for s in model_specs().values() if s.name in models]  # registry order, as results.json has it
    return {
        **{s.name: s.resynthesis.describe() for s in specs if s.resynthesis},
        **{
            s.name: f"stage 2 only, on the stage-1 weights of the {s.stage1_from} run of the fold"
            for s in specs
            if s.stage1_from
        },
    }


def training_seconds(run_dir: Path, stages: tuple[str, ...] = ("stage1", "stage2")) -> float:
    """Optimiser-step seconds of the stages, from their last checkpoints (kept across resumes)."""
    from pds_mri.workflows.run import last_trainer_states

    return sum(float(t.get("elapsed_seconds", 0.0)) for t in last_trainer_states(run_dir, stages).values())


# ---------------------------------------------------------------------------------------------- results


def write_results(
    options: BenchmarkOptions, models: tuple[str, ...], records: list[dict[str, Any]], n_subjects: int
) -> dict[str, Any]:
    """results.json and results.md of the finished records (evaluation/benchmark_summary.py)."""
    from pds_mri.workflows.run import optimiser_steps, trained_parameters

    shared_runs = shared_runs_of(models)
    results = result_json(
        benchmark_results(
            prepared_dir=options.prepared_dir,
            preset=options.preset,
            config=options.config,
            folds=options.folds,
            seed=options.seed,
            subjects=n_subjects,
            models={m: model_spec(m).description for m in models},
            shared_runs=shared_runs,
            records=records,
            budgets=model_budgets(
                BenchmarkDir(options.out_dir),
                records,
                optimiser_steps,
                lambda run: trained_parameters(run, options.prepared_dir)["total"],
            ),
        )
    )
    layout = BenchmarkDir(options.out_dir)
    write_json(layout.results_json, results)
    write_text(layout.results_md, results_markdown(results))
    return results
