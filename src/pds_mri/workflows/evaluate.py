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

import nibabel as nib
import numpy as np
import torch

from pds_mri import __version__
from pds_mri.errors import InputError, PdsError
from pds_mri.io.atomic import make_dir, write_json, write_tsv
from pds_mri.io.layout import SESSION_COLUMN, index_columns, key_of, session_of, with_session
from pds_mri.io.nifti import load_nifti
from pds_mri.io.synthesized import SYNTH_TSV, read_synthesized
from pds_mri.progress import console, progress_bar
from pds_mri.report.format import fixed, summary_stat

METRICS_TSV = "metrics.tsv"
METRICS_JSON = "metrics.json"
GROUP_TSV = "group_differences.tsv"
GROUP_COLUMNS = (
    "direction",
    "region",
    "contrast",
    "n_case",
    "n_control",
    "real_difference",
    "synthetic_difference",
    "ratio",
    "ratio_ci_low",
    "ratio_ci_high",
    "real_cohens_d",
    "synthetic_cohens_d",
)
ROW_COLUMNS = ("participant_id", "diagnosis", "direction", "source", "target")


def run_evaluate(synth_dir: Path, prepared_dir: Path, out_dir: Path, run_dir: Path | None = None) -> dict[str, Any]:
    """Score every scorable row of SYNTH_DIR/synthesized.tsv; write metrics.tsv/.json; return the JSON payload.

    With ``run_dir`` (the run that made the syntheses) the group differences are also scored in the
    data-driven ``disease`` region of the run's TRAINING subjects (`disease.pattern_map.fold_disease_regions`).
    """
    from pds_mri.evaluation.calibration import CALIBRATION_COLUMNS, CALIBRATION_SCORES
    from pds_mri.evaluation.group_difference import regional_means
    from pds_mri.evaluation.regions import METRIC_COLUMNS, VOXEL_COLUMNS, finite, protocol, score, summarise
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
            pred = _load_on_grid(synth_dir / row["synthesis"], grid, f"{target} model grid of {pid}")
            std = None
            if row.get("uncertainty"):
                std = _load_on_grid(synth_dir / row["uncertainty"], grid, f"{target} model grid of {pid}")
            metrics = score(torch.from_numpy(pred), item, None if std is None else torch.from_numpy(std))
            calibration, subject = uncertainty_calibration(pred, item, std)
            if subject is not None:
                voxels.setdefault(direction, []).append(subject)
            extra = {"disease": disease_regions[direction]} if disease_regions else None
            scored.append(
                {
                    **who,
                    "diagnosis": real.get("diagnosis") or "n/a",
                    "direction": direction,
                    "source": source,
                    "target": target,
                    **metrics,
                    **calibration,
                    "synthesis": row["synthesis"],
                    "uncertainty": row.get("uncertainty") or "",
                    "region_means_real": regional_means(item["target"], item, networks, extra),
                    "region_means_synth": regional_means(torch.from_numpy(pred), item, networks, extra),
                }
            )
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
    write_tsv(out_dir / METRICS_TSV, [{c: _tsv_value(r[c]) for c in columns} for r in scored], columns)
    json_rows: list[dict[str, Any]] = [
        {k: finite(v) if k in METRIC_COLUMNS or k in CALIBRATION_COLUMNS else v for k, v in r.items()} for r in scored
    ]
    for r in json_rows:
        for key in ("region_means_real", "region_means_synth"):
            r[key] = {k: finite(v) for k, v in r[key].items()}
    groups = group_differences_payload(json_rows)
    write_tsv(out_dir / GROUP_TSV, [_group_tsv_row(g) for g in groups["rows"]], GROUP_COLUMNS)
    payload = {
        "GeneratedBy": {"Name": "pds-mri", "Version": __version__, "Command": "pds evaluate"},
        "protocol": protocol(),
        "inputs": {
            "synth_dir": str(synth_dir.resolve()),
            "prepared_dir": str(prepared_dir.resolve()),
            "synthesized_tsv_sha256": hashlib.sha256((synth_dir / SYNTH_TSV).read_bytes()).hexdigest(),
        },
        "metrics": list(METRIC_COLUMNS),
        "summary": summarise(scored, (*METRIC_COLUMNS, *CALIBRATION_SCORES)),
        "rows": json_rows,
        "skipped": {"count": len(skipped), "rows": skipped},
        "group_differences": {**groups, "disease_region": region_note},
        "calibration": calibration_payload(voxels),
        "seconds": round(time.perf_counter() - start, 3),
    }
    write_json(out_dir / METRICS_JSON, payload)
    _print_summary(payload)
    if skipped:
        console.print(f"skipped {len(skipped)} synthesis(es) without a real target (listed in {METRICS_JSON})")
    console.print(f"metrics of {len(scored)} synthesis(es) -> {out_dir / METRICS_TSV}, {out_dir / METRICS_JSON}")
    return payload


def uncertainty_calibration(
    pred: np.ndarray, item: dict[str, Any], std: np.ndarray | None
) -> tuple[dict[str, float], dict[str, Any] | None]:
    """The calibration columns of one synthesis (all n/a without a std map) and its voxels for pooling."""
    from pds_mri.evaluation.calibration import calibration_metrics, empty_metrics, subject_voxels, unit_error_and_std

    if std is None:
        return empty_metrics(), None
    target = item["target"].reshape(pred.shape).numpy()
    mask = item["mask"].reshape(pred.shape).numpy() > 0
    error, sd = unit_error_and_std(pred, target, std)
    return calibration_metrics(error, sd, mask), subject_voxels(error, sd, mask)


def calibration_payload(voxels: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """metrics.json "calibration": the columns, their protocol, and per direction the pooled numbers."""
    from pds_mri.evaluation.calibration import CALIBRATION_COLUMNS, CALIBRATION_PROTOCOL, pooled

    return {
        "columns": list(CALIBRATION_COLUMNS),
        "protocol": CALIBRATION_PROTOCOL,
        "directions": {d: pooled(v) for d, v in sorted(voxels.items())},
    }


def group_differences_payload(rows: list[dict[str, Any]], seed: int = 0) -> dict[str, Any]:
    from pds_mri.evaluation.group_difference import PROTOCOL, group_differences, json_safe

    return {"protocol": PROTOCOL, "rows": json_safe(group_differences(rows, seed))}


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


def _group_tsv_row(g: dict[str, Any]) -> dict[str, Any]:
    ci = g.get("ratio_ci") or [None, None]
    row = {c: g.get(c) for c in GROUP_COLUMNS}
    row["ratio_ci_low"], row["ratio_ci_high"] = ci
    return {k: "n/a" if v is None else (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()}


def _load_on_grid(path: Path, grid: nib.Nifti1Image, what: str) -> np.ndarray:
    if not path.is_file():
        raise InputError(path, "file not found (listed in synthesized.tsv)")
    try:
        img = load_nifti(str(path))
        data = np.asarray(img.dataobj, dtype=np.float32)
    except Exception as exc:  # nibabel raises many types for corrupt files
        raise InputError(path, f"cannot read NIfTI ({exc.__class__.__name__}: {exc})") from None
    if data.shape != tuple(grid.shape[:3]):
        raise InputError(
            path,
            f"shape {data.shape} does not match the {what} {tuple(grid.shape[:3])}; was it synthesised from "
            "this prepared directory (same grids)?",
        )
    if not np.allclose(img.affine, grid.affine, atol=1e-3):
        raise InputError(path, f"affine differs from the {what}; was it synthesised from this prepared directory?")
    if not np.isfinite(data).all():
        raise InputError(path, "contains NaN or Inf values")
    return data


def _tsv_value(value: Any) -> Any:
    if isinstance(value, float):
        if np.isnan(value):
            return "n/a"
        if np.isinf(value):
            return "inf" if value > 0 else "-inf"
        return f"{value:.6g}"
    return value


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
