"""`pds diagnose PREPARED_DIR OUT_DIR --benchmark BENCH_DIR | --run RUN_DIR`: NC / MCI / AD clinical validation.

Subjects: those of PREPARED_DIR with both real modalities and a known diagnosis (the benchmark's cohort).

Folds. With --benchmark the diagnosis CV uses the BENCHMARK's folds (test set of runs/pds/fold-k/split.json;
training = every other subject), whatever --folds says: the synthetic map of a subject then always comes from
the benchmark model of the fold where that subject was a test subject, i.e. from a model that never saw it, and
each synthesis must say it was made without the diagnosis (sidecar DiagnosisUsed false) — both are checked,
and a violation is an error. --models names the benchmark models whose syntheses are used (default pds,unet):
the first is the synthesis of the hybrid/synthetic rows, every one an imputer of the missing-modality rows; a
model that only resynthesises another's runs (pds-mean4, pds-50steps) is checked against that run's split. With
--run only, the run's split is the one fold (train + val → test), and its
syntheses (RUN_DIR/synth-<direction>/synthesized.tsv, test subjects only) are used; protocols that need
syntheses of training subjects cannot run and are listed with the reason. With neither, the folds are
`split_subjects`'s stratified K-fold (--folds, --seed) and only protocols on real maps run.

Every protocol (evaluation/protocols.py) runs with a fresh classifier per fold (evaluation/classifiers.py),
fitted on training subjects only; metrics with 95 % bootstrap CIs (evaluation/diagnosis.py). Output:
OUT_DIR/diagnosis.json and diagnosis.md, written atomically.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pds_mri.errors import PdsError
from pds_mri.evaluation.diagnosis_sources import (
    PRIMARY,
    SYNTH_MODELS,
    Syntheses,
    benchmark_sources,
    own_folds,
    run_sources,
)
from pds_mri.io.atomic import write_json, write_text
from pds_mri.io.result_files import DiagnosisResult, result_json
from pds_mri.io.run_layout import DIAGNOSIS_JSON, DIAGNOSIS_MD
from pds_mri.progress import console
from pds_mri.provenance import generated_by
from pds_mri.report.markdown.diagnosis import diagnosis_markdown

__all__ = ["PRIMARY", "SYNTH_MODELS", "DiagnoseOptions", "run_diagnose"]


@dataclass(frozen=True)
class DiagnoseOptions:
    prepared_dir: Path
    out_dir: Path
    run_dir: Path | None = None
    benchmark_dir: Path | None = None
    classifier: str = "pca-svm"
    folds: int = 5
    missing: float = 0.3
    seed: int = 0
    models: tuple[str, ...] = SYNTH_MODELS


def run_diagnose(options: DiagnoseOptions) -> dict[str, Any]:
    from pds_mri.domain import MODALITIES
    from pds_mri.evaluation.classifiers import CLASSIFIERS, check_classifier
    from pds_mri.evaluation.diagnosis import FeatureTable, check_folds
    from pds_mri.evaluation.diagnosis_cv import PROTOCOL_TEXT, run_protocols
    from pds_mri.evaluation.features import FeatureSpace, build_feature_space
    from pds_mri.io.layout import COHORT_TSV, inside, key_of
    from pds_mri.io.output_place import check_output_apart
    from pds_mri.training.data import diagnosis_code, read_cohort
    from pds_mri.training.split import check_grouped
    from pds_mri.workflows.models import resolve_models

    check_output_apart(Path(options.out_dir), {"prepared directory": Path(options.prepared_dir)})
    check_classifier(options.classifier)
    if options.run_dir is not None and options.benchmark_dir is not None:
        raise PdsError("give --run or --benchmark, not both")
    if not options.models or len(set(options.models)) != len(options.models):
        raise PdsError(f"--models {','.join(options.models)}: give one or more distinct synthesis models")
    resolve_models(options.models)  # unknown names are an error, not a silently empty source
    if not 0.0 <= options.missing < 1.0:
        raise PdsError(f"--missing {options.missing}: must be in [0, 1)")
    prepared = Path(options.prepared_dir)
    rows = [r for r in read_cohort(prepared) if r.get("fmri") and r.get("dmri")]
    rows = [r for r in rows if diagnosis_code(r.get("diagnosis")) >= 0]
    rows.sort(key=key_of)  # a row is a (participant, session); folds keep a participant's sessions together
    ids = [key_of(r) for r in rows]
    group_of = {key_of(r): str(r["participant_id"]) for r in rows}
    y = np.asarray([diagnosis_code(r.get("diagnosis")) for r in rows], dtype=int)
    if len(ids) < 4:
        raise PdsError(f"{prepared}: {len(ids)} subject(s) have both modalities and a diagnosis; need >= 4")

    notes: list[str] = []
    syntheses: Syntheses = {}  # (model, target modality) -> {subject: map path}
    if options.benchmark_dir is not None:
        folds, syntheses, fold_notes = benchmark_sources(Path(options.benchmark_dir), ids, options.models)
        notes += fold_notes
        if options.folds != len(folds):
            notes.append(f"--folds {options.folds} ignored: the benchmark's {len(folds)} folds are used")
        fold_source = f"benchmark {Path(options.benchmark_dir).resolve()} (runs/{PRIMARY}/fold-k/split.json)"
    elif options.run_dir is not None:
        from pds_mri.workflows.run import read_model_name

        run_model = read_model_name(Path(options.run_dir))  # the model that made the run's syntheses
        folds, syntheses, fold_notes = run_sources(Path(options.run_dir), ids, run_model, options.models[0])
        notes += fold_notes
        if len(options.models) > 1:
            notes.append(f"--run: one run's syntheses only; --models {','.join(options.models[1:])} not used")
        fold_source = f"run {Path(options.run_dir).resolve()} (split.json: train+val -> test)"
    else:
        folds = own_folds(ids, y, options.folds, options.seed, [group_of[i] for i in ids])
        fold_source = f"split_subjects stratified {options.folds}-fold, seed {options.seed}"
        notes.append("no --benchmark or --run: only protocols on real maps can run")
    check_folds(folds)
    for train_ids, test_ids in folds:
        check_grouped({"train": train_ids, "test": test_ids}, group_of)

    kind = CLASSIFIERS.get(options.classifier).features
    spaces: dict[str, FeatureSpace] = {  # str keys: syntheses name their target modality as a str
        m: build_feature_space(
            prepared, [inside(prepared, str(r[f"{m}_mask"]), prepared / COHORT_TSV) for r in rows], m, kind
        )
        for m in MODALITIES
    }
    table = FeatureTable(ids, y)
    for m in MODALITIES:
        space = spaces[m]
        table.blocks[m] = {"real": _features(space, [inside(prepared, str(r[m]), prepared / COHORT_TSV) for r in rows])}
    for (model, target), paths in sorted(syntheses.items()):
        block = np.full((len(ids), spaces[target].width), np.nan, dtype=np.float32)
        for s, path in paths.items():
            block[table.index[s]] = _features(spaces[target], [path])[0]
        table.blocks[target][model] = block

    protocol_rows, not_run, comparisons = run_protocols(
        table,
        folds,
        classifier=options.classifier,
        models=options.models,
        missing_fraction=options.missing,
        seed=options.seed,
    )
    if options.missing > 0 and syntheses:
        notes.append(
            "missing-modality scenario: the modality is hidden from the diagnosis only; the synthesis models were "
            "trained (by the benchmark) on every non-test subject's real maps, including maps hidden here, which "
            "slightly favours the impute-* rows"
        )
    result = {
        "GeneratedBy": generated_by("pds diagnose"),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "prepared_dir": str(prepared.resolve()),
        "benchmark_dir": None if options.benchmark_dir is None else str(Path(options.benchmark_dir).resolve()),
        "run_dir": None if options.run_dir is None else str(Path(options.run_dir).resolve()),
        "classifier": options.classifier,
        "classifier_description": CLASSIFIERS.get(options.classifier).description,
        "features": {m: spaces[m].describe() for m in MODALITIES},
        "subjects": len(ids),
        "class_counts": {c: int((y == i).sum()) for i, c in enumerate(("NC", "MCI", "AD"))},
        "folds": {"source": fold_source, "n": len(folds), "test": [sorted(t) for _, t in folds]},
        "missing_fraction": options.missing,
        "seed": options.seed,
        "synthesis_models": list(options.models),
        "synthesis_sources": {f"{m}:{t}": len(p) for (m, t), p in sorted(syntheses.items())},
        "protocol": PROTOCOL_TEXT,
        "notes": notes,
        "table": protocol_rows,
        "comparisons": comparisons,
        "not_run": not_run,
    }
    result = result_json(DiagnosisResult.model_validate(result))
    out_dir = Path(options.out_dir)
    write_json(out_dir / DIAGNOSIS_JSON, result)
    write_text(out_dir / DIAGNOSIS_MD, diagnosis_markdown(result))
    console.print(f"diagnosis: {len(protocol_rows)} protocol(s) run, {len(not_run)} not run -> {out_dir}")
    return result


def _features(space: Any, paths: list[Path]) -> np.ndarray:
    from pds_mri.evaluation.features import read_grid_map

    return np.stack([space.extract(read_grid_map(Path(p), space.shape)) for p in paths])
