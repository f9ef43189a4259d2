"""Where `pds diagnose` gets its folds and its out-of-fold syntheses: a benchmark directory (the folds of its
`pds` runs, every model's syntheses checked to be out-of-fold and made without the diagnosis), one run (its
split is the one fold), or neither (`split_subjects`'s stratified K folds, real maps only)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from pds_mri.errors import InputError, PdsError
from pds_mri.io.run_layout import SYNTH_TSV, BenchmarkDir, FoldDir, RunDir

SYNTH_MODELS = ("pds", "unet")
PRIMARY = "pds"  # the benchmark model whose runs define the folds

Folds = list[tuple[list[str], list[str]]]
Syntheses = dict[tuple[str, str], dict[str, Path]]  # (model, target modality) -> {subject: map path}


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
) -> tuple[Folds, Syntheses, list[str]]:
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
    syntheses: Syntheses = {}
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
    run_dir: Path, ids: list[str], model: str, primary: str = PRIMARY
) -> tuple[Folds, Syntheses, list[str]]:
    """The run's split as the one fold (train + val -> test) and the syntheses of its test subjects, made by
    `model` (the run's model.json)."""
    from pds_mri.training.split import read_split

    split = read_split(run_dir)
    known = set(ids)
    test = sorted(set(split["test"]) & known)
    if not test:
        raise InputError(RunDir(run_dir).split, "the run's split has no test subject among the paired subjects")
    train = sorted(known - set(test))
    notes = [f"one fold: the run's test split ({len(test)} subjects); syntheses of its test subjects only"]
    syntheses: Syntheses = {}
    for target, paths in read_syntheses(run_dir, split).items():
        syntheses[(model, target)] = {s: p for s, p in paths.items() if s in known}
    if model != primary:
        notes.append(f"the run's model is {model}, not {primary}: hybrid protocols need {primary} syntheses")
    return [(train, test)], syntheses, notes


def read_syntheses(fold_dir: Path, split: dict[str, list[str]]) -> dict[str, dict[str, Path]]:
    """{target modality: {subject: synthesis on the model grid}} of fold_dir/synth-*/synthesized.tsv.

    Refuses a synthesis of a subject that the fold's model saw (train/val) or that was made with the diagnosis.
    """
    from pds_mri.io.layout import inside, key_of

    seen = set(split["train"]) | set(split["val"])
    test = set(split["test"])
    out: dict[str, dict[str, Path]] = {}
    for index in sorted(fold_dir.glob(f"synth-*/{SYNTH_TSV}")):
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
