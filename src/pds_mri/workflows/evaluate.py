"""`pds evaluate SYNTH_DIR PREPARED_DIR OUT_DIR`: score syntheses against the real maps (docs/evaluation.md).

OUT_DIR/metrics.tsv    one row per subject × direction: PSNR, SSIM, MAE in the brain mask; PSNR and MAE in
                       the pattern ROIs and per tissue class; voxel counts of each region; then, for
                       syntheses with an uncertainty map, how well it predicts the error (Spearman ρ of std
                       with |error|, ±1σ/±2σ coverage; brain, interior and mask edge; evaluation/calibration.py)
OUT_DIR/metrics.json   the protocol (verbatim, so anyone can recompute), the inputs, the rows, per-direction
                       mean ± std over subjects, and the rows that could not be scored with the reason;
                       "calibration": the uncertainty numbers pooled over subjects and the binned curve
OUT_DIR/group_differences.tsv (+ metrics.json "group_differences")
                       AD − NC and MCI − NC differences of regional means in the real maps and in the
                       syntheses of the same subjects, Cohen's d, the ratio synthetic / real, bootstrap CIs
Only syntheses whose subject has the real target map in PREPARED_DIR can be scored.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

from pds_mri.errors import InputError, PdsError
from pds_mri.evaluation.scoring import GROUP_COLUMNS, ROW_COLUMNS, group_tsv_row, json_rows, tsv_value
from pds_mri.io.atomic import make_dir, write_json, write_tsv
from pds_mri.io.layout import SESSION_COLUMN, index_columns, key_of, session_of, with_session
from pds_mri.io.nifti import load_nifti
from pds_mri.io.result_files import EvaluationMetrics, result_json
from pds_mri.io.run_layout import METRICS_JSON, SYNTH_TSV
from pds_mri.io.synthesized import read_synthesized
from pds_mri.progress import console, progress_bar
from pds_mri.provenance import generated_by
from pds_mri.report.format import fixed, summary_stat

__all__ = ["GROUP_COLUMNS", "METRICS_JSON", "METRICS_TSV", "ROW_COLUMNS", "run_evaluate"]

METRICS_TSV = "metrics.tsv"
GROUP_TSV = "group_differences.tsv"


def run_evaluate(synth_dir: Path, prepared_dir: Path, out_dir: Path, run_dir: Path | None = None) -> dict[str, Any]:
    """Score every scorable row of SYNTH_DIR/synthesized.tsv; write metrics.tsv/.json; return the JSON payload.

    With ``run_dir`` (the run that made the syntheses) the group differences are also scored in the
    data-driven ``disease`` region of the run's TRAINING subjects (`disease.pattern_map.fold_disease_regions`).
    """
    from pds_mri.evaluation.calibration import CALIBRATION_COLUMNS, CALIBRATION_SCORES, calibration_payload
    from pds_mri.evaluation.group_difference import group_differences_payload
    from pds_mri.evaluation.regions import METRIC_COLUMNS, VOXEL_COLUMNS, protocol, summarise
    from pds_mri.evaluation.scoring import load_on_grid, score_synthesis
    from pds_mri.io.output_place import check_output_apart
    from pds_mri.io.pattern_table import roi_networks
    from pds_mri.training.data import AtlasCache, direction_modalities, load_direction_item, read_cohort

    synth_dir, prepared_dir, out_dir = Path(synth_dir), Path(prepared_dir), Path(out_dir)
    nested = {"synthesis directory": synth_dir, "run directory": run_dir}
    check_output_apart(out_dir, {"prepared directory": prepared_dir}, nested)
    synth_rows = read_synthesized(synth_dir)
    cohort = {key_of(r): r for r in read_cohort(prepared_dir)}  # a row is a (participant, session)
    atlas = AtlasCache(prepared_dir)
    try:
        networks: list[int] | None = roi_networks(prepared_dir)
    except InputError:
        networks = None  # no pattern table: brain and tissue regions only
    disease_regions, region_note = _disease_regions(prepared_dir, run_dir)
    scored: list[dict[str, Any]] = []
    voxels: dict[str, list[dict[str, Any]]] = {}  # direction -> per subject {region: (|error|, std)}
    skipped: list[dict[str, str]] = []
    start = time.perf_counter()
    with progress_bar() as bar:
        task = bar.add_task("evaluating", total=len(synth_rows))
        for row in synth_rows:
            bar.advance(task)
            pid, direction = key_of(row), row["direction"]
            ses = session_of(row)
            who = {"participant_id": row["participant_id"], **({} if ses is None else {SESSION_COLUMN: ses})}
            try:
                source, target = direction_modalities(direction)
            except PdsError:
                raise InputError(synth_dir / SYNTH_TSV, f"{pid}: unknown direction '{direction}'") from None
            real = cohort.get(pid)
            reason = None
            if real is None:
                reason = f"not in {prepared_dir / 'cohort.tsv'}"
            elif not real.get(target):
                reason = f"no real {target} map in the prepared cohort"
            elif not real.get(source):
                reason = f"no {source} map in the prepared cohort"
            if reason:
                skipped.append({**who, "direction": direction, "reason": reason})
                continue
            assert real is not None
            item = load_direction_item(prepared_dir, real, direction, atlas=atlas)
            grid = load_nifti(prepared_dir / str(real[f"{target}_mask"]))
            pred = load_on_grid(synth_dir / row["synthesis"], grid, f"{target} model grid of {pid}")
            std = None
            if row.get("uncertainty"):
                std = load_on_grid(synth_dir / row["uncertainty"], grid, f"{target} model grid of {pid}")
            extra = {"disease": disease_regions[direction]} if disease_regions else None
            scored_row, subject = score_synthesis(
                row,
                item,
                pred,
                std,
                who=who,
                diagnosis=real.get("diagnosis") or "n/a",
                source=source,
                target=target,
                networks=networks,
                extra_regions=extra,
            )
            if subject is not None:
                voxels.setdefault(direction, []).append(subject)
            scored.append(scored_row)
    if not scored:
        reasons = sorted({s["reason"] for s in skipped})
        raise PdsError(
            f"none of the {len(synth_rows)} synthesis(es) in {synth_dir / SYNTH_TSV} can be scored "
            f"({'; '.join(reasons) or 'the file lists none'}): synthesise with `pds synthesize --direction "
            "fmri2dmri|dmri2fmri` on subjects that have the target modality (e.g. the test subjects of split.json)"
        )

    columns = (*ROW_COLUMNS, *METRIC_COLUMNS, *VOXEL_COLUMNS, *CALIBRATION_COLUMNS)  # new columns go last
    columns = tuple(index_columns(columns, scored))  # session_id after participant_id in a dataset with sessions
    if SESSION_COLUMN in columns:
        scored = [with_session(r) for r in scored]
    make_dir(out_dir)
    write_tsv(out_dir / METRICS_TSV, [{c: tsv_value(r[c]) for c in columns} for r in scored], columns)
    rows = json_rows(scored)
    groups = group_differences_payload(rows)
    write_tsv(out_dir / GROUP_TSV, [group_tsv_row(g) for g in groups["rows"]], GROUP_COLUMNS)
    metrics = EvaluationMetrics.model_validate(
        {
            "GeneratedBy": generated_by("pds evaluate"),
            "protocol": protocol(),
            "inputs": {
                "synth_dir": str(synth_dir.resolve()),
                "prepared_dir": str(prepared_dir.resolve()),
                "synthesized_tsv_sha256": hashlib.sha256((synth_dir / SYNTH_TSV).read_bytes()).hexdigest(),
            },
            "metrics": list(METRIC_COLUMNS),
            "summary": summarise(scored, (*METRIC_COLUMNS, *CALIBRATION_SCORES)),
            "rows": rows,
            "skipped": {"count": len(skipped), "rows": skipped},
            "group_differences": {**groups, "disease_region": region_note},
            "calibration": calibration_payload(voxels),
            "seconds": round(time.perf_counter() - start, 3),
        }
    )
    payload = result_json(metrics)
    write_json(out_dir / METRICS_JSON, payload)
    _print_summary(payload)
    if skipped:
        console.print(f"skipped {len(skipped)} synthesis(es) without a real target (listed in {METRICS_JSON})")
    console.print(f"metrics of {len(scored)} synthesis(es) -> {out_dir / METRICS_TSV}, {out_dir / METRICS_JSON}")
    return payload


def _disease_regions(prepared_dir: Path, run_dir: Path | None) -> tuple[dict[str, Any] | None, str | None]:
    """The fold's data-driven disease regions (from the run's training subjects) and a line describing them."""
    if run_dir is None:
        return None, None
    from pds_mri.disease.pattern_map import REGION_THRESHOLD, fold_disease_regions
    from pds_mri.training.split import read_split

    train = list(read_split(Path(run_dir))["train"])
    try:
        regions = fold_disease_regions(prepared_dir, train)
    except PdsError as exc:  # too few training subjects per diagnosis: the other regions are still scored
        return None, f"disease region not computed: {exc}"
    note = (
        f"disease: voxels where the disease-pattern map (smoothed voxel-wise ANOVA F across NC/MCI/AD, scaled to "
        f"[0, 1]) of the real target maps of the run's {len(train)} training subjects is >= {REGION_THRESHOLD}"
    )
    return regions, note


def _print_summary(payload: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title="synthesis quality (mean ± std over subjects, inside the brain mask, [0, 1] scale)")
    for name in ("direction", "n", "PSNR (dB)", "SSIM", "MAE", "pattern MAE"):
        table.add_column(name)
    for direction, stats in payload["summary"].items():
        table.add_row(
            direction,
            str(stats["subjects"]),
            *(summary_stat(stats[m]) for m in ("psnr", "ssim", "mae", "pattern_mae")),
        )
    console.print(table)
    pooled = payload.get("calibration", {}).get("directions", {})
    if not pooled:
        return
    table = Table(title="uncertainty (pooled voxels of all subjects): Spearman ρ(std, |error|), ±kσ coverage")
    for name in ("direction", "n", "ρ brain", "ρ interior", "ρ edge", "±1σ (0.683)", "±2σ (0.954)"):
        table.add_column(name)
    for direction, numbers in pooled.items():
        table.add_row(
            direction,
            str(numbers["subjects"]),
            *(fixed(numbers[r]["spearman"]) for r in ("brain", "interior", "edge")),
            *(fixed(numbers["brain"][f"coverage_{k}sd"]) for k in (1, 2)),
        )
    console.print(table)
