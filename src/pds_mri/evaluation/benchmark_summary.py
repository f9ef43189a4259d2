"""What `pds benchmark` reports from its finished (model, fold) records: per model × direction mean ± std over
subjects, paired differences reference − model (bootstrap CI, Wilcoxon p), the flat table for the report,
real vs synthetic group differences pooled over the folds, and results.json itself (`BenchmarkResults`)."""

from __future__ import annotations

import datetime as _dt
import os
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pds_mri.domain import DIRECTIONS
from pds_mri.errors import PdsError
from pds_mri.io.layout import key_of, participant_of_key
from pds_mri.io.result_files import BenchmarkResults, TrainedRecord, read_record
from pds_mri.io.run_layout import BenchmarkDir, FoldDir
from pds_mri.provenance import generated_by

REFERENCE = "pds"
METRICS = ("psnr", "ssim", "mae")
CROSS_VALIDATION = (
    "subject-level stratified K-fold over subjects with both modalities (split_subjects); "
    "the same split for every model; diagnosis not used at synthesis"
)
NO_BUDGET: dict[str, Any] = {"parameters": None, "optimiser_steps": None}


def summarise(
    models: tuple[str, ...], records: list[dict[str, Any]], folds: int, seed: int
) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """(per_model, comparisons, table) from the finished (model, fold) records."""
    from pds_mri.evaluation.statistics import CONFIDENCE, N_RESAMPLES, mean_std, paired_comparison

    by_model: dict[str, list[dict[str, Any]]] = {m: [r for r in records if r["model"] == m] for m in models}

    def values(model: str, direction: str, metric: str) -> dict[str, float]:
        return {
            key_of(row): float(row[metric])  # a row: (participant, session)
            for rec in by_model[model]
            for row in rec["rows"]
            if row["direction"] == direction and row.get(metric) is not None
        }

    per_model: dict[str, Any] = {}
    comparisons: dict[str, Any] = {}
    table: list[dict[str, Any]] = []
    for model in models:
        recs = by_model[model]
        synth = [row["synth_seconds"] for rec in recs for row in rec["rows"] if row.get("synth_seconds") is not None]
        entry: dict[str, Any] = {
            "folds_done": sorted(rec["fold"] for rec in recs),
            "complete": len(recs) == folds,
            "train_seconds": mean_std([rec["train_seconds"] for rec in recs]),
            "synth_seconds_per_subject": mean_std(synth),
            "directions": {},
        }
        for direction in DIRECTIONS:
            entry["directions"][direction] = {m: mean_std(list(values(model, direction, m).values())) for m in METRICS}
        per_model[model] = entry
        if model != REFERENCE and REFERENCE in by_model and by_model[REFERENCE]:
            comparisons[model] = {
                direction: {
                    m: paired_comparison(
                        values(REFERENCE, direction, m),
                        values(model, direction, m),
                        N_RESAMPLES,
                        CONFIDENCE,
                        seed,
                        cluster_of=participant_of_key,  # a key is a session row: resample participants
                    )
                    for m in METRICS
                }
                for direction in DIRECTIONS
            }
        for direction in DIRECTIONS:
            stats = entry["directions"][direction]
            row: dict[str, Any] = {"model": model, "direction": direction, "n": stats["psnr"]["n"]}
            for m in METRICS:
                row[f"{m}_mean"], row[f"{m}_std"] = stats[m]["mean"], stats[m]["std"]
            for m in METRICS:
                comp = comparisons.get(model, {}).get(direction, {}).get(m)
                row[f"delta_{m}"] = None if comp is None else comp["mean_difference"]
                row[f"delta_{m}_ci"] = (
                    None if comp is None or comp["ci_low"] is None else [comp["ci_low"], comp["ci_high"]]
                )
                row[f"p_{m}"] = None if comp is None else comp["p_wilcoxon"]
            row["train_seconds"] = entry["train_seconds"]["mean"]
            row["synth_seconds_per_subject"] = entry["synth_seconds_per_subject"]["mean"]
            row["folds_done"] = len(recs)
            table.append(row)
    return per_model, comparisons, table


def pooled_group_differences(models: tuple[str, ...], records: list[dict[str, Any]], seed: int) -> dict[str, Any]:
    """Per model: real vs synthetic AD − NC / MCI − NC differences over all its out-of-fold test subjects."""
    from pds_mri.evaluation.group_difference import group_differences_payload

    out: dict[str, Any] = {}
    for model in models:
        rows = [row for rec in records if rec["model"] == model for row in rec["rows"] if row.get("region_means_real")]
        if rows:
            out[model] = group_differences_payload(rows, seed)
    return out


def model_budgets(
    bench: BenchmarkDir,
    records: list[dict[str, Any]],
    steps_of: Callable[[Path], dict[str, int]],
    parameters_of: Callable[[Path], int],
) -> dict[str, dict[str, Any]]:
    """Trained parameters and optimiser steps of each model, read off its first finished fold's run with
    `steps_of` (optimiser steps per stage) and `parameters_of` (trained parameters); a shared stage 1 counts
    for each model trained on it. A run that cannot be read has no budget (None), not an error."""
    out: dict[str, dict[str, Any]] = {}
    for rec in sorted(records, key=lambda r: r["fold"]):
        if rec["model"] in out:
            continue
        run_dir = FoldDir(bench.path / rec["run_dir"])
        try:
            steps = steps_of(run_dir.path)
            marker = run_dir.trained
            source = read_record(marker, TrainedRecord).stage1_from if marker.is_file() else None
            if source is not None:
                steps["stage1"] = steps_of(bench.fold(source, rec["fold"]).path).get("stage1", 0)
            out[rec["model"]] = {"parameters": parameters_of(run_dir.path), "optimiser_steps": sum(steps.values())}
        except (OSError, PdsError, KeyError, ValueError):
            out[rec["model"]] = dict(NO_BUDGET)
    return out


def statistics_text(seed: int) -> dict[str, str]:
    """results.json "statistics": how every number of the tables is made."""
    from pds_mri.evaluation.statistics import CONFIDENCE, N_RESAMPLES

    return {
        "difference": f"{REFERENCE} − model per subject and direction (positive PSNR/SSIM and negative MAE "
        f"favour {REFERENCE})",
        "ci": f"{CONFIDENCE:.0%} percentile bootstrap of the mean difference, {N_RESAMPLES} resamples of "
        f"participants (a drawn participant brings all its sessions), numpy default_rng(seed={seed})",
        "test": "two-sided Wilcoxon signed-rank (scipy.stats.wilcoxon, zero_method='wilcox') of each participant's "
        "mean difference (n in the comparisons counts subject-sessions)",
        "train_seconds": "optimiser-step time summed over training stages (excludes validation/checkpoints)",
        "synth_seconds_per_subject": "network time of one synthesis (sidecar SynthesisSeconds)",
        "parameters": "trained parameters of every part (PDS: denoiser, conditioning, pattern encoder, "
        "refiners; pix2pix3d: generator + discriminator)",
        "optimiser_steps": "optimiser steps summed over training stages (batch 1 per direction; a shared "
        "stage 1 counts for each model that uses it)",
    }


def benchmark_results(
    *,
    prepared_dir: Path,
    preset: str | None,
    config: Path | None,
    folds: int,
    seed: int,
    subjects: int,
    models: dict[str, str],
    shared_runs: dict[str, str],
    records: list[dict[str, Any]],
    budgets: dict[str, dict[str, Any]],
) -> BenchmarkResults:
    """results.json from the finished records; `models` maps each name to its description, `budgets` each
    model to its parameters and optimiser steps (models without a finished fold have none)."""
    from pds_mri.evaluation.metrics import PROTOCOL

    names = tuple(models)
    per_model, comparisons, table = summarise(names, records, folds, seed)
    groups = pooled_group_differences(names, records, seed)
    for model, budget in budgets.items():
        per_model[model] |= budget
    for row in table:
        row |= budgets.get(row["model"], NO_BUDGET)
    return BenchmarkResults.model_validate(
        {
            "GeneratedBy": generated_by("pds benchmark"),
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "machine": {"platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count()},
            "prepared_dir": str(Path(prepared_dir).resolve()),
            "preset": preset,
            "config": None if config is None else str(Path(config).resolve()),
            "protocol": PROTOCOL,
            "cross_validation": CROSS_VALIDATION,
            "folds": folds,
            "seed": seed,
            "subjects": subjects,
            "models": models,
            "reference": REFERENCE,
            "shared_runs": shared_runs,
            "statistics": statistics_text(seed),
            "complete": all(per_model[m]["complete"] for m in names),
            "per_model": per_model,
            "comparisons": comparisons,
            "table": table,
            "group_differences": groups,
        }
    )
