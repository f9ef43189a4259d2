"""`pds calibrate RUN_DIR PREPARED_DIR`: a post-hoc scale for the predicted std, fitted on the run's
validation subjects only, so that ±2σ intervals cover about 95 % of the voxels of new subjects.

Why: the std over N posterior samples measures how much the sampler varies, not how wrong the estimate is;
on the cpu preset it covers ~10 % of the errors at ±2σ. One factor per direction, s = q_0.9545(|error| / std)
/ 2 over the validation subjects' brain voxels (`evaluation.calibration.fit_scale`), is written to
RUN_DIR/uncertainty_scale.json; `pds synthesize` then multiplies every std map by it (and says so in the
sidecar, `UncertaintyScale`), unless `--no-uncertainty-scale`. Test subjects never enter the fit, and a scale
file that lists any subject outside the split's validation set is refused.
"""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from pds_mri.domain import DIRECTIONS
from pds_mri.errors import InputError, PdsError
from pds_mri.io.atomic import output_lock, write_json
from pds_mri.io.json_files import field, read_json
from pds_mri.io.layout import COHORT_TSV, key_of
from pds_mri.io.nifti import load_nifti
from pds_mri.io.run_layout import RunDir
from pds_mri.progress import console

SCALE_FILE = RunDir.UNCERTAINTY_SCALE


def run_calibrate(run_dir: Path, prepared_dir: Path, samples: int = 8, seed: int = 0) -> dict[str, Any]:
    """Synthesise the validation subjects with `samples` posterior samples, fit one scale per direction,
    write RUN_DIR/uncertainty_scale.json (atomically) and return its content."""
    from pds_mri.evaluation.calibration import NOMINAL, coverage, fit_scale, strided, unit_error_and_std
    from pds_mri.io.tables import read_index
    from pds_mri.training.split import read_split
    from pds_mri.workflows.synthesize import SynthesizeOptions, run_synthesize

    run_dir, prepared_dir = Path(run_dir), Path(prepared_dir)
    if samples < 2:
        raise PdsError(f"--samples {samples}: a std needs at least 2 posterior samples")
    val = read_split(run_dir)["val"]
    if not val:
        raise PdsError(f"{run_dir}: the split has no validation subjects to fit the scale on")
    index = read_index(prepared_dir / COHORT_TSV, ("participant_id",), "cohort")
    cohort = {key_of(r): r for r in index if r.get("participant_id")}  # split.json lists rows (sub-X[_ses-Y])
    started = time.perf_counter()
    directions: dict[str, Any] = {}
    checkpoint: dict[str, Any] = {}
    # the run's lock: a `pds train --resume` (or another calibrate) must not change the run meanwhile
    with output_lock(run_dir, "calibrate"), tempfile.TemporaryDirectory(prefix="pds-calibrate-") as tmp:
        for direction in DIRECTIONS:
            out = Path(tmp) / direction
            options = SynthesizeOptions(
                run_dir=run_dir,
                input_dir=prepared_dir,
                out_dir=out,
                direction=direction,
                samples=samples,
                seed=seed,
                participant_labels=tuple(val),
                uncertainty_scale=False,  # the raw std is what is being calibrated
            )
            rows = run_synthesize(options)
            errors, stds = [], []
            for row in rows:
                real = cohort[key_of(row)]
                target = row["target"]
                pred = _load(out / row["synthesis"])
                std = _load(out / row["uncertainty"])
                truth = _load(prepared_dir / str(real[target]))
                mask = _load(prepared_dir / str(real[f"{target}_mask"])) > 0.5
                error, sd = unit_error_and_std(pred, truth, std)
                errors.append(strided(error[mask]))
                stds.append(strided(sd[mask]))
                checkpoint = read_json(out / row["sidecar"], "synthesis sidecar").get("Checkpoint", {})
            if not rows:
                raise PdsError(f"{run_dir}: no validation subject has both maps for {direction}")
            e, s = np.concatenate(errors), np.concatenate(stds)
            scale = fit_scale(e, s)
            directions[direction] = {
                "scale": scale,
                "subjects": [key_of(r) for r in rows],
                "voxels": int(e.size),
                **{f"coverage_{k}sd_before": coverage(e, s, k) for k in NOMINAL},
                **{f"coverage_{k}sd_after": coverage(e, scale * s, k) for k in NOMINAL},
            }
        payload = {
            "description": "multiply the std of `pds synthesize` by directions.<direction>.scale; fitted on the "
            "validation subjects only (quantile of |error| / std over their brain voxels, [0, 1] scale)",
            "fitted_on": sorted({p for d in directions.values() for p in d["subjects"]}),
            "samples": samples,
            "seed": seed,
            "checkpoint": {k: checkpoint.get(k) for k in ("stage", "sha256")},
            "directions": directions,
            "seconds": round(time.perf_counter() - started, 1),
        }
        write_json(run_dir / SCALE_FILE, payload)
    for name, numbers in directions.items():
        console.print(
            f"{name}: scale {numbers['scale']:.3g}; ±2σ coverage on the {len(numbers['subjects'])} validation "
            f"subject(s) {numbers['coverage_2sd_before']:.3f} -> {numbers['coverage_2sd_after']:.3f}"
        )
    console.print(f"uncertainty scale -> {run_dir / SCALE_FILE}")
    return payload


def read_uncertainty_scale(run_dir: Path) -> dict[str, Any] | None:
    """The run's scale file, checked (None when the run has none): a positive finite scale per direction,
    fitted only on validation subjects of the run's own split (anything else would leak test subjects)."""
    from pds_mri.training.split import read_split

    path = Path(run_dir) / SCALE_FILE
    if not path.exists():
        return None
    data = read_json(path, "uncertainty scale", "re-run `pds calibrate RUN_DIR PREPARED_DIR`")
    directions = field(data, "directions", dict, path)
    fitted_on = field(data, "fitted_on", list, path)
    for direction, numbers in directions.items():
        if direction not in DIRECTIONS or not isinstance(numbers, dict):
            raise InputError(path, f"unknown direction '{direction}'")
        scale = numbers.get("scale")
        if isinstance(scale, bool) or not isinstance(scale, int | float) or not math.isfinite(scale) or scale <= 0:
            raise InputError(path, f"directions.{direction}.scale must be a positive number, got {scale!r}")
    val = set(read_split(Path(run_dir))["val"])
    listed = {str(p) for p in fitted_on} | {str(p) for n in directions.values() for p in n.get("subjects", [])}
    outside = sorted(listed - val)
    if outside:
        raise InputError(path, f"fitted on {', '.join(outside[:3])}, not validation subjects of the run's split")
    return data


def sidecar_scales(data: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Per direction, the sidecar's `UncertaintyScale` ({Value, File, FittedOn}); empty without a calibration."""
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


def check_scale_fits(run_dir: Path, data: dict[str, Any], sha256: str, samples: int) -> None:
    """The scale (`data`, as `read_uncertainty_scale` returned it) must belong to the run's current weights:
    one fitted on an earlier checkpoint (training went on with --resume, or stage 2 was retrained) is
    refused; one fitted with another --samples is applied with a warning (the std of N samples shrinks and
    steadies as N grows, so the factor depends on N)."""
    path = Path(run_dir) / SCALE_FILE
    checkpoint = data.get("checkpoint")
    fitted = checkpoint.get("sha256") if isinstance(checkpoint, dict) else None
    if isinstance(fitted, str) and fitted and fitted != sha256:
        raise InputError(
            path,
            f"fitted on checkpoint {fitted[:12]}, but the run's checkpoint is now {sha256[:12]}; re-run "
            "`pds calibrate RUN_DIR PREPARED_DIR`, or synthesise with --no-uncertainty-scale",
        )
    fitted_samples = data.get("samples")
    if isinstance(fitted_samples, int) and not isinstance(fitted_samples, bool) and fitted_samples != samples:
        console.print(
            f"warning: {path} was fitted with --samples {fitted_samples}, this synthesis uses --samples {samples}; "
            "its coverage holds for the former"
        )


def _load(path: Path) -> np.ndarray:
    return np.asarray(load_nifti(path).dataobj, dtype=np.float64)
