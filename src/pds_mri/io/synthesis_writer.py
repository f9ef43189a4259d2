"""The files of one synthesis directory: each subject's synthesized images and their BIDS sidecars, the
directory's index (synthesized.tsv) and its dataset_description.json.

`pds synthesize` computes the estimates; this module writes them, in input units on the source's native grid as
well as on the model grid, so the two never disagree on names, spaces or Sources.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from pds_mri.io.atomic import save_nifti, write_json, write_text, write_tsv
from pds_mri.io.layout import (
    DERIVATIVES_BIDS_VERSION,
    SESSION_COLUMN,
    bidsignore_text,
    index_columns,
    key_of,
    session_of,
    synthesis_name,
    with_session,
)
from pds_mri.io.nifti import load_nifti
from pds_mri.io.run_layout import SYNTH_TSV
from pds_mri.preprocess.transform import ToMNI
from pds_mri.provenance import dataset_generated_by, generated_by

SYNTH_COLUMNS = (
    "participant_id",
    "direction",
    "source",
    "target",
    "synthesis",
    "synthesis_native",
    "uncertainty",
    "uncertainty_native",
    "sidecar",
    "mode",
    "samples",
)


def merge_index(index: Path, new_rows: list[dict]) -> list[dict]:
    """Rows of an earlier run into the same OUT_DIR stay listed, unless this run rewrote that subject and
    direction: several calls (one direction each, or a few subjects at a time) build one index."""
    import csv

    rows = {(key_of(r), r["direction"]): r for r in new_rows}
    if index.is_file():
        for old in csv.DictReader(index.read_text().splitlines(), delimiter="\t"):
            key = (key_of(old) if old.get("participant_id") else "", old.get("direction", ""))
            if key not in rows and all((Path(index.parent) / old[c]).is_file() for c in ("synthesis", "sidecar")):
                rows[key] = {c: old.get(c, "") for c in (*SYNTH_COLUMNS, SESSION_COLUMN)}
    return [rows[k] for k in sorted(rows)]


def write_index(out_dir: Path, new_rows: list[dict], description: dict) -> Path:
    """synthesized.tsv (this run's rows merged with an earlier run's), dataset_description.json, .bidsignore."""
    index = Path(out_dir) / SYNTH_TSV
    merged = merge_index(index, new_rows)
    if any(session_of(r) for r in merged):
        merged = [with_session(r) for r in merged]
    write_tsv(index, merged, index_columns(SYNTH_COLUMNS, merged))
    write_json(Path(out_dir) / "dataset_description.json", description)
    write_text(Path(out_dir) / ".bidsignore", bidsignore_text())
    return index


def dataset_description(input_dir: Path, run: Path) -> dict:
    """OUT_DIR is a BIDS derivative dataset of the prepared maps (made with the run's model: `run`, the run
    directory or the model archive it was unpacked from)."""
    run_uri = Path(run).resolve().as_uri()  # the archive, not its temp copy
    return {
        "Name": "pds-mri synthesized maps",
        "BIDSVersion": DERIVATIVES_BIDS_VERSION,
        "DatasetType": "derivative",
        "GeneratedBy": dataset_generated_by("pds synthesize"),
        "SourceDatasets": [
            {"URL": Path(input_dir).resolve().as_uri(), "Description": "prepared maps (pds prepare)"},
            {"URL": run_uri, "Description": "trained model (pds train)"},
        ],
        # the names of BIDS URIs in the sidecars' "Sources" (bids:prepared:sub-X/...)
        "DatasetLinks": {
            "prepared": Path(input_dir).resolve().as_uri(),
            "run": run_uri,
        },
        "Warning": "synthetic images for research; not diagnostic images",
    }


def synthesis_provenance(
    *,
    direction: str,
    model: str,
    checkpoint: dict[str, str],
    sampling: Any,
    seed: int,
    subject_seed: int,
    diagnosis_used: bool,
    disease_state: list[float] | None,
    fitted_subjects: int,
    uncertainty_scale: dict[str, Any] | None,
    seconds: float,
    config: Any,
) -> dict:
    """The synthesis sidecar's provenance: model and checkpoint, how it was sampled (`sampling`: the family's
    `Sampling`), the seeds, what conditioned it (`disease_state`: the run's class probabilities, or None) and
    the run's whole config (`config`: its `Config`)."""
    from pds_mri.disease.state import CLASSES

    return {
        "GeneratedBy": generated_by("pds synthesize"),
        "Warning": "synthetic image for research; not a diagnostic image",
        "Direction": direction,
        "Model": model,
        "Checkpoint": checkpoint,
        "Sampler": sampling.sampler,
        "Mode": sampling.mode,
        "Estimate": sampling.estimate,
        "Steps": sampling.steps,
        "MeanSteps": sampling.mean_steps,
        "Samples": sampling.samples,
        "NetworkEvaluations": sampling.evaluations,
        "Guidance": sampling.guidance,
        "Seed": seed,
        "SubjectSeed": subject_seed,
        "DiagnosisUsed": diagnosis_used,
        "DiseaseState": None
        if disease_state is None
        else {
            "Probabilities": dict(zip(CLASSES, (round(float(p), 6) for p in disease_state), strict=True)),
            "Source": "source-only classifier fitted on the run's training subjects",
            "FittedSubjects": fitted_subjects,
        },
        "UncertaintyScale": uncertainty_scale,
        "SynthesisSeconds": round(seconds, 6),
        "Config": json.loads(json.dumps(config.model_dump(mode="json"))),
    }


def write_subject(
    out_dir: Path,
    in_dir: Path,
    row: dict,
    direction: str,
    mean: np.ndarray,
    std: np.ndarray,
    item: dict,
    norms: dict,
    provenance: dict,
    samples: list[np.ndarray] | None = None,
    with_uncertainty: bool = False,
) -> dict:
    """One synthesis's images (model grid; native grid in input units; std maps when `with_uncertainty`: more
    than one sample; the drawn `samples` as one 4D image) and sidecars; returns its synthesized.tsv row."""
    from pds_mri.preprocess.normalise import Normalisation, read_sidecar_normalisation
    from pds_mri.preprocess.resample import to_native
    from pds_mri.preprocess.transform import to_native_via
    from pds_mri.training.data import direction_modalities, resolve_cell

    source, target = direction_modalities(direction)
    sub, ses, out_dir, in_dir = row["participant_id"], session_of(row), Path(out_dir), Path(in_dir)
    grid_ref = load_nifti(resolve_cell(in_dir, row, f"{target}_mask"))
    native_path = resolve_cell(in_dir, row, f"{source}_native")
    native_ref = load_nifti(native_path)
    mask = item["mask"][0].numpy() > 0
    if row.get(target):  # the subject's own scaling, when it has the target (e.g. for evaluation)
        norm, origin = read_sidecar_normalisation(in_dir / row[target].replace(".nii.gz", ".json"))[0], "subject"
    else:
        n = norms[target]
        norm = Normalisation(low=n["low"], high=n["high"], percentiles=tuple(n["percentiles"]))
        origin = f"median of {n['subjects']} training subjects"
    units = np.where(mask, norm.invert(mean), 0.0).astype(np.float32)
    units_std = (std * (norm.high - norm.low) / 2.0).astype(np.float32)
    kind = str(provenance.get("Config", {}).get("maps", {}).get(f"{target}_map", ""))
    # the target's kept entities when the row has it (task, acq, run ...), else the required ones
    named = functools.partial(synthesis_name, sub, ses, kind=kind, entities=target_entities(row, target))
    names = {
        "synthesis": named(f"{target}grid", "synth", target),
        "synthesis_native": named("native", "synth", target),
        "uncertainty": named(f"{target}grid", "synthStd", target),
        "uncertainty_native": named("native", "synthStd", target),
    }
    names["sidecar"] = names["synthesis"].replace(".nii.gz", ".json")  # the provenance: the synthesis's sidecar
    to_mni = native_to_mni_transform(in_dir, row, source)

    def native(img: nib.Nifti1Image) -> nib.Nifti1Image:
        """Onto the source scan's own grid and affine; through the registration (inverted: its affine, and after
        SyN its inverse warp) when prepare registered it."""
        if to_mni is None:
            return to_native(img, native_ref)
        return to_native_via(img, to_mni, native_ref)

    save_nifti(_like(mean, grid_ref), out_dir / names["synthesis"])
    save_nifti(native(_like(units, grid_ref)), out_dir / names["synthesis_native"])
    if with_uncertainty:
        save_nifti(_like(std, grid_ref), out_dir / names["uncertainty"])
        save_nifti(native(_like(units_std, grid_ref)), out_dir / names["uncertainty_native"])
    else:
        names["uncertainty"] = names["uncertainty_native"] = ""
    names["samples"] = ""
    if samples:
        names["samples"] = named(f"{target}grid", "synthSamples", target)
        stack = np.stack([np.where(mask, x, -1.0) for x in samples], axis=-1).astype(np.float32)
        img = _like(stack, grid_ref)
        save_nifti(img, out_dir / names["samples"])
        provenance["SamplesFile"] = names["samples"]
    provenance |= {
        "Sources": [f"bids:prepared:{row[source]}"],  # BIDS URI, resolved through DatasetLinks
        # absolute, so `pds report` and viewers find them from any working directory
        "Source": str((in_dir / row[source]).resolve()),
        "NativeReference": str(Path(native_path).resolve()),
        "NativeToMNI": row.get(f"{source}_xfm") or None,
        "Normalisation": {**norm.to_json(), "origin": origin},
    }
    write_image_sidecars(out_dir, names, row, source, target, provenance)
    mode = provenance.get("Mode", "")
    session = {} if ses is None else {SESSION_COLUMN: ses}
    out = {"participant_id": sub, **session, "direction": direction, "source": source, "target": target}
    return out | names | {"mode": mode}


def target_entities(row: dict, target: str) -> dict[str, str]:
    """The entities a row's synthesis keeps: those of its prepared target map, when it has one."""
    from pds_mri.io.layout import KEPT_ENTITIES, entities_of, source_entities

    found = entities_of(row[target]) if row.get(target) else {}
    kept = {k: v for k, v in found.items() if k in KEPT_ENTITIES[target]}
    return kept or source_entities(None, target)  # type: ignore[arg-type]


def write_image_sidecars(out_dir: Path, names: dict, row: dict, source: str, target: str, provenance: dict) -> None:
    """Each synthesized image's BIDS sidecar: SpatialReference of its space (the prepared atlas of the target
    grid; the prepared source map for a native image, whose grid it is on), SkullStripped and Sources (BIDS
    URIs into the prepared dataset). The synthesis's own sidecar also holds the provenance (`names["sidecar"]`):
    BIDS has no place for a JSON without its image."""
    from pds_mri.io.layout import pattern_atlas

    for key in ("synthesis", "synthesis_native", "uncertainty", "uncertainty_native", "samples"):
        if not names.get(key):
            continue
        native = key.endswith("native")
        space = row[f"{source}_native"] if native else pattern_atlas(target)  # type: ignore[arg-type]
        keys = {"SpatialReference": f"bids:prepared:{space}", "SkullStripped": not native}
        extra = provenance if key == "synthesis" else {"Sources": provenance["Sources"]}
        write_json(out_dir / names[key].replace(".nii.gz", ".json"), {**keys, **extra})


def native_to_mni_transform(in_dir: Path, row: dict, modality: str) -> ToMNI | None:
    """The registration prepare recorded for a modality (None: its native images were already in MNI)."""
    from pds_mri.io.transform_files import read_transform

    relative = row.get(f"{modality}_xfm")
    return None if not relative else read_transform(Path(in_dir), relative)


def native_to_mni_matrix(in_dir: Path, row: dict, modality: str) -> np.ndarray | None:
    """The affine part of that registration."""
    transform = native_to_mni_transform(in_dir, row, modality)
    return None if transform is None else transform.matrix


def _like(data: np.ndarray, reference: nib.Nifti1Image) -> nib.Nifti1Image:
    img = nib.Nifti1Image(np.asarray(data, np.float32), reference.affine)
    img.header.set_xyzt_units("mm", "sec")
    img.set_sform(reference.affine, code=4)
    img.set_qform(reference.affine, code=4)
    return img
