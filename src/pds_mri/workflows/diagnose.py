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

import csv
import datetime as _dt
import json
import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pds_mri import __version__
from pds_mri.errors import InputError, PdsError
from pds_mri.io.atomic import write_json, write_text
from pds_mri.io.run_layout import BenchmarkDir, FoldDir
from pds_mri.progress import console
from pds_mri.report.markdown.diagnosis import diagnosis_markdown

DIAGNOSIS_JSON = "diagnosis.json"
DIAGNOSIS_MD = "diagnosis.md"
SYNTH_MODELS = ("pds", "unet")
PRIMARY = "pds"  # the benchmark model whose runs define the folds


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


Folds = list[tuple[list[str], list[str]]]


def run_diagnose(options: DiagnoseOptions) -> dict[str, Any]:
    from pds_mri.domain import MODALITIES
    from pds_mri.evaluation.classifiers import CLASSIFIERS, check_classifier
    from pds_mri.evaluation.diagnosis import FeatureTable, check_folds
    from pds_mri.evaluation.features import FeatureSpace, build_feature_space
    from pds_mri.io.layout import inside, key_of
    from pds_mri.io.output_place import check_output_apart
    from pds_mri.training.data import COHORT_FILE, diagnosis_code, read_cohort
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
    syntheses: dict[tuple[str, str], dict[str, Path]] = {}  # (model, target modality) -> {subject: map path}
    if options.benchmark_dir is not None:
        folds, syntheses, fold_notes = benchmark_sources(Path(options.benchmark_dir), ids, options.models)
        notes += fold_notes
        if options.folds != len(folds):
            notes.append(f"--folds {options.folds} ignored: the benchmark's {len(folds)} folds are used")
        fold_source = f"benchmark {Path(options.benchmark_dir).resolve()} (runs/{PRIMARY}/fold-k/split.json)"
    elif options.run_dir is not None:
        folds, syntheses, fold_notes = run_sources(Path(options.run_dir), ids, options.models[0])
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
            prepared, [inside(prepared, str(r[f"{m}_mask"]), prepared / COHORT_FILE) for r in rows], m, kind
        )
        for m in MODALITIES
    }
    table = FeatureTable(ids, y)
    for m in MODALITIES:
        space = spaces[m]
        table.blocks[m] = {
            "real": _features(space, [inside(prepared, str(r[m]), prepared / COHORT_FILE) for r in rows])
        }
    for (model, target), paths in sorted(syntheses.items()):
        block = np.full((len(ids), spaces[target].width), np.nan, dtype=np.float32)
        for s, path in paths.items():
            block[table.index[s]] = _features(spaces[target], [path])[0]
        table.blocks[target][model] = block

    protocol_rows, not_run, comparisons = run_protocols(table, folds, options)
    if options.missing > 0 and syntheses:
        notes.append(
            "missing-modality scenario: the modality is hidden from the diagnosis only; the synthesis models were "
            "trained (by the benchmark) on every non-test subject's real maps, including maps hidden here, which "
            "slightly favours the impute-* rows"
        )
    result = {
        "GeneratedBy": {"Name": "pds-mri", "Version": __version__, "Command": "pds diagnose"},
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
        "protocol": _PROTOCOL_TEXT,
        "notes": notes,
        "table": protocol_rows,
        "comparisons": comparisons,
        "not_run": not_run,
    }
    out_dir = Path(options.out_dir)
    write_json(out_dir / DIAGNOSIS_JSON, result)
    write_text(out_dir / DIAGNOSIS_MD, diagnosis_markdown(result))
    console.print(f"diagnosis: {len(protocol_rows)} protocol(s) run, {len(not_run)} not run -> {out_dir}")
    return result


_PROTOCOL_TEXT = (
    "subject-level CV; per fold a fresh classifier Pipeline fitted on the training subjects only (leakage guard: "
    "every scaler/PCA checked to have seen exactly n_train samples; train/test disjoint); synthetic maps are "
    "out-of-fold (made by a model whose split had the subject in its test set) and made without the diagnosis; "
    "metrics on the pooled out-of-fold predictions; 95 % percentile bootstrap CIs over subjects"
)


def _features(space: Any, paths: list[Path]) -> np.ndarray:
    from pds_mri.evaluation.features import read_grid_map

    return np.stack([space.extract(read_grid_map(Path(p), space.shape)) for p in paths])


def run_protocols(table: Any, folds: Folds, options: DiagnoseOptions) -> tuple[list[dict], list[dict], list[dict]]:
    """(rows of the table, protocols not run with the reason, paired comparisons)."""
    from pds_mri.evaluation.diagnosis import classification_metrics, cross_validate, subset
    from pds_mri.evaluation.protocols import choose_missing, main_protocols, missing_protocols, unavailable

    protocols = main_protocols(options.models[0])
    missing: frozenset[str] = frozenset()
    if options.missing > 0:
        missing = choose_missing(table.ids, table.y, options.missing, options.seed)
    complete = frozenset(table.ids) - missing
    if missing:
        protocols += missing_protocols(missing, complete, options.models)
    rows: list[dict] = []
    not_run: list[dict] = []
    done: dict[str, tuple[Any, dict]] = {}  # protocol name -> (protocol, its pooled predictions)
    for protocol in protocols:
        reason = unavailable(table, folds, protocol)
        if reason is None:
            try:
                cv = cross_validate(table, folds, protocol, options.classifier, options.seed)
            except PdsError as exc:
                reason = str(exc)
        if reason is not None:
            console.print(f"  {protocol.name}: not run ({reason})")
            not_run.append({"protocol": protocol.name, "group": protocol.group, "reason": reason})
            continue
        metrics = classification_metrics(cv["y_true"], cv["y_pred"], cv["proba"], seed=options.seed)
        row: dict[str, Any] = {
            "protocol": protocol.name,
            "group": protocol.group,
            "description": protocol.description,
            **metrics,
            "folds": cv["folds"],
            "predictions": [
                {"participant_id": s, "fold": f, "y_true": int(t), "y_pred": int(p), "proba": [float(x) for x in q]}
                for s, f, t, p, q in zip(
                    cv["participant_id"], cv["fold"], cv["y_true"], cv["y_pred"], cv["proba"], strict=True
                )
            ],
        }
        if protocol.group != "main":  # like-for-like: every strategy scored on the complete test subjects too
            sub = subset(cv, complete)
            row["on_complete_subjects"] = classification_metrics(
                sub["y_true"], sub["y_pred"], sub["proba"], seed=options.seed
            )
        console.print(f"  {protocol.name}: balanced accuracy {row['balanced_accuracy']:.3f} (n={row['n']})")
        rows.append(row)
        done[protocol.name] = (protocol, cv)
    return rows, not_run, paired_comparisons(done, options.models[0], options.seed)


def paired_comparisons(done: dict[str, tuple[Any, dict]], imputer: str, seed: int) -> list[dict[str, Any]]:
    """The differences the targets are about, each with a paired bootstrap CI over subjects.

    Every main protocol against real->real (all subjects); in each missing-modality group, imputation with
    `imputer` against dropping the incomplete subjects on the complete ones (the only subjects `drop` predicts),
    and against every other strategy on all subjects (imputation only acts on the incomplete ones).
    """
    from pds_mri.evaluation.diagnosis import paired_difference

    out: list[dict[str, Any]] = []
    reference = "real->real"
    pairs: list[tuple[str, str, frozenset[str] | None, str]] = []
    if reference in done:
        pairs += [(n, reference, None, "all") for n, (p, _) in done.items() if p.group == "main" and n != reference]
    for name, (protocol, _) in done.items():
        if protocol.group != "main" and name.endswith(f": impute-{imputer}"):
            for other, (p, _) in done.items():
                if p.group == protocol.group and other != name:  # compared where `other` predicts (drop: complete)
                    only = p.test_subjects
                    pairs.append((name, other, only, "all" if only is None else "complete"))
    for a, b, subjects, scope in pairs:
        diff = paired_difference(done[a][1], done[b][1], subjects, seed=seed)
        out.append({"a": a, "b": b, "subjects": scope, **diff})
    return out


# ------------------------------------------------------------------------------------------ sources


def own_folds(ids: list[str], y: np.ndarray, folds: int, seed: int, groups: list[str] | None = None) -> Folds:
    """`split_subjects`'s K folds over the rows `ids`, each participant (`groups`) in one test fold only."""
    from pds_mri.training.split import split_subjects

    if folds < 2:
        raise PdsError(f"--folds {folds}: cross-validation needs at least 2 folds")
    out = []
    for k in range(folds):
        test = split_subjects(ids, list(y), fold=k, folds=folds, seed=seed, val_fraction=0.0, groups=groups)["test"]
        out.append((sorted(set(ids) - set(test)), sorted(test)))
    return out


def benchmark_sources(
    bench: Path, ids: list[str], models: tuple[str, ...] = SYNTH_MODELS
) -> tuple[Folds, dict[tuple[str, str], dict[str, Path]], list[str]]:
    """The benchmark's folds (from the `pds` runs) and every available out-of-fold synthesis, checked."""
    from pds_mri.training.split import read_split

    layout = BenchmarkDir(bench)
    primary = layout.model_dir(PRIMARY)
    fold_dirs = layout.folds(PRIMARY)
    if not fold_dirs:
        raise InputError(primary, "no fold-k run found; is this a `pds benchmark` output with the pds model?")
    splits = [read_split(d) for d in fold_dirs]
    known = set(ids)
    folds: Folds = []
    for split in splits:
        test = [s for s in split["test"] if s in known]  # others (e.g. unknown diagnosis) are not analysed
        folds.append((sorted(known - set(test)), sorted(test)))
    untested = known - {s for _, t in folds for s in t}
    if untested:
        raise InputError(
            primary,
            f"{len(untested)} subject(s) (e.g. {sorted(untested)[0]}) are in no benchmark "
            "test fold; was the benchmark run on another prepared directory?",
        )
    notes: list[str] = []
    syntheses: dict[tuple[str, str], dict[str, Path]] = {}
    for model in models:
        model_dirs = [layout.fold(model, d.fold) for d in fold_dirs]
        found = [_trained_run(bench, d) for d in model_dirs]
        trained_dirs = [d for d in found if d is not None and d.split.is_file()]
        if len(trained_dirs) != len(model_dirs):
            notes.append(f"{model}: no complete set of benchmark folds; its syntheses are not used")
            if model == models[0]:
                raise InputError(
                    layout.model_dir(model), f"no complete set of {model} folds for the hybrid rows (see --models)"
                )
            continue
        for d, trained, ref in zip(model_dirs, trained_dirs, splits, strict=True):
            split = read_split(trained)
            if split["test"] != ref["test"]:
                where = d.split if trained == d else d.done
                raise InputError(where, f"{model}'s test split differs from {PRIMARY}'s for this fold")
            for target, paths in read_syntheses(d.path, split).items():
                into = syntheses.setdefault((model, target), {})
                again = set(into) & set(paths)
                if again:
                    raise PdsError(f"{model}: subject(s) {sorted(again)[:5]} synthesised in more than one fold")
                into.update({s: p for s, p in paths.items() if s in known})
    return folds, syntheses, notes


def _trained_run(bench: Path, fold_dir: FoldDir) -> FoldDir | None:
    """The run that made fold_dir's syntheses: fold_dir itself, or the run a resynthesis model reused
    (None when neither is readable: the model then has no complete set of folds)."""
    from pds_mri.io.layout import inside
    from pds_mri.io.result_files import FoldRecord, read_record

    if fold_dir.split.is_file():
        return fold_dir
    try:
        record = read_record(fold_dir.done, FoldRecord)
    except InputError:
        return None
    return FoldDir(inside(bench, record.run_dir, fold_dir.done)) if record.run_dir else None


def run_sources(
    run_dir: Path, ids: list[str], primary: str = PRIMARY
) -> tuple[Folds, dict[tuple[str, str], dict[str, Path]], list[str]]:
    from pds_mri.training.split import read_split

    split = read_split(run_dir)
    known = set(ids)
    test = sorted(set(split["test"]) & known)
    if not test:
        raise InputError(run_dir / "split.json", "the run's split has no test subject among the paired subjects")
    train = sorted(known - set(test))
    notes = [f"one fold: the run's test split ({len(test)} subjects); syntheses of its test subjects only"]
    syntheses: dict[tuple[str, str], dict[str, Path]] = {}
    model = _run_model(run_dir)
    for target, paths in read_syntheses(run_dir, split).items():
        syntheses[(model, target)] = {s: p for s, p in paths.items() if s in known}
    if model != primary:
        notes.append(f"the run's model is {model}, not {primary}: hybrid protocols need {primary} syntheses")
    return [(train, test)], syntheses, notes


def _run_model(run_dir: Path) -> str:
    """The model that made the run's syntheses: its model.json (`pds` for runs without one)."""
    from pds_mri.workflows.run import read_model_name

    return read_model_name(run_dir)


def read_syntheses(fold_dir: Path, split: dict[str, list[str]]) -> dict[str, dict[str, Path]]:
    """{target modality: {subject: synthesis on the model grid}} of fold_dir/synth-*/synthesized.tsv.

    Refuses a synthesis of a subject that the fold's model saw (train/val) or that was made with the diagnosis.
    """
    from pds_mri.io.layout import inside, key_of

    seen = set(split["train"]) | set(split["val"])
    test = set(split["test"])
    out: dict[str, dict[str, Path]] = {}
    for index in sorted(fold_dir.glob("synth-*/synthesized.tsv")):
        with index.open(newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh, delimiter="\t"):
                sub, target = (key_of(row) if row.get("participant_id") else ""), row.get("target", "")
                if sub in seen or sub not in test:
                    raise InputError(index, f"{sub} is not in this fold's test set: its synthesis is not out-of-fold")
                sidecar = inside(index.parent, row["sidecar"], index)
                try:
                    used = json.loads(sidecar.read_text()).get("DiagnosisUsed")
                except (OSError, json.JSONDecodeError):
                    raise InputError(sidecar, "missing or unreadable synthesis sidecar") from None
                if used is not False:
                    raise InputError(
                        sidecar,
                        "synthesised with the diagnosis (DiagnosisUsed is not false): "
                        "its features would leak the label",
                    )
                if target not in ("fmri", "dmri"):
                    raise InputError(index, f"{sub}: unknown target '{target}'")
                out.setdefault(target, {})[sub] = inside(index.parent, row["synthesis"], index)
    return out
