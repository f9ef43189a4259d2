"""Placing one subject in MNI152 for `pds prepare`: which registration a cohort gets (``auto``), the per-image
subject → MNI transforms of one row (re-used from an earlier run into the same directory when they were made
from the same image), and what its files and cohort.tsv cells record.

`preprocess/registration.py` estimates a transform; this module decides what is registered on what.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pds_mri.io.inputs import SubjectInputs
from pds_mri.preprocess.transform import ToMNI

SPACE_NOTE = {
    "none": "--registration none: inputs are taken to lie in MNI152 world space as they are",
    "affine": "registering every subject to MNI152 (ANTsPy affine; via the T1w when present, else each modality's "
    "mean image)",
    "syn": "registering every subject to MNI152 (ANTsPy rigid -> affine -> SyN; via the T1w when present, else "
    "each modality's mean image)",
    "auto": "placing every subject in MNI152: by the fMRIPrep/QSIPrep transform where the derivatives hold one "
    "(nitransforms), else by an ANTsPy affine registration (via the T1w when present, else each modality's mean "
    "image)",
}
METHOD = {
    "affine": "ANTsPy antsRegistration Affine, Mattes MI",
    "syn": "ANTsPy antsRegistrationSyNQuick[s]: rigid -> affine -> SyN, Mattes MI",
    "derivatives": "the derivative's own ITK transform (an affine .txt read with nitransforms, or an .h5 "
    "composite: affine + displacement field)",
}
_IMAGE = {"fmri": "mean BOLD", "dmri": "mean DWI", "t1w": "T1w"}


def resolve_registration(requested: str, bids_dir: Path, subjects: list[SubjectInputs]) -> str:
    """``auto``: no registration when every input declares an MNI152 space (a ``space-MNI152…`` file name, as
    fMRIPrep/QSIPrep MNI outputs have) or the dataset's description declares it (``SpatialReference``, as
    `pds simulate` writes: its heads are built in MNI space); otherwise ``auto`` itself: the fMRIPrep/QSIPrep
    transform of an image where its derivative holds one, else an affine registration (SyN only when asked for:
    on the coarse model grids it changes little and costs more)."""
    from pds_mri.preprocess.registration import MNI_SPACES, declared_mni

    if requested != "auto":
        return requested
    description = Path(bids_dir) / "dataset_description.json"
    try:
        declared = json.loads(description.read_text()).get("SpatialReference", "")
    except (OSError, ValueError, AttributeError):
        declared = ""
    if isinstance(declared, str) and declared in MNI_SPACES:
        return "none"
    images = [p for s in subjects for p in (s.bold, s.dwi) if p is not None]
    return "none" if images and all(declared_mni(Path(p).name) for p in images) else "auto"


@dataclass(frozen=True)
class Registered:
    """One image's transform, what it was made from, and its QC (`record`: what its JSON stores)."""

    transform: ToMNI
    record: dict[str, Any]


def _key(kind: str, reference_path: Any) -> dict[str, Any]:
    from pds_mri.io.transform_files import reference_record
    from pds_mri.preprocess.registration import SEED, TEMPLATE_MM

    return {
        "Registration": kind,
        "Reference": reference_record(reference_path),
        "Template": f"nilearn MNI152 T1 at {TEMPLATE_MM:g} mm",
        "Seed": SEED,
    }


def _register(img: Any, path: Any, kind: str, what: str, names: list[str], previous: Path | None) -> Registered:
    """The transform of one reference image: the earlier run's (any of `names` in `previous` with an equal cache
    key), else a new registration with its QC."""
    from pds_mri.io.transform_files import cached
    from pds_mri.preprocess.registration import dice, estimate, qc, reference_image

    key = _key(kind, path)
    for name in names:
        found = cached(previous, name, key)
        if found is not None:
            transform, payload = found
            kept = {k: payload.get(k) for k in ("QC", "Dice", "Via")}
            return Registered(transform, key | kept)
    reference = reference_image(img)
    transform = estimate(reference, kind)
    scores = {"QC": round(qc(reference, transform), 4), "Dice": round(dice(reference, transform), 4)}
    return Registered(transform, key | scores | {"Via": what})


def register_subject(
    data: Any, registration: str, row: dict, names: dict[str, str] | None = None, previous: Path | None = None
) -> dict[str, Registered]:
    """Per image kind (fmri, dmri, t1w), its registration; empty without one. `names`: where each kind's JSON
    is stored (relative to the prepared dir); `previous`: the prepared dir of an earlier run, whose transforms
    made from the same image are re-used.

    With a T1w, its registration places every image of the subject (one session shares the scanner frame);
    without one, or when the row's images come from different sessions (io/sessions.py), each image is
    registered on its own (the T1w on itself). Fills row's registration columns."""
    row.update({"registration": "none", "registration_qc": "", "registration_dice": "", "fmri_xfm": "", "dmri_xfm": ""})
    if registration == "none":
        return {}
    names = names or {}
    declared = ""
    if registration == "auto":
        data, declared = _without_declared_mni(data)
        if data.bold_img is None and data.dwi_img is None:  # every image of the row declares MNI152
            row["registration"] = "none" + declared
            return {}
        given = _derivative_transforms(data)
        if given:
            via = ", ".join(sorted({str(given[m].record["Via"]) for m in ("fmri", "dmri") if m in given}))
            _fill(row, given, f"derivatives transform ({via}){declared}")
            return given
        registration = "affine"
    inputs = getattr(data, "inputs", None)
    paths = {k: getattr(inputs, a, None) for k, a in (("fmri", "bold"), ("dmri", "dwi"), ("t1w", "t1w"))}
    images = {m: img for m, img in (("fmri", data.bold_img), ("dmri", data.dwi_img)) if img is not None}
    one_frame = getattr(inputs, "one_session", True)
    label = "SyN" if registration == "syn" else "affine"
    if data.t1w_img is not None and one_frame:
        shared = [names[k] for k in (*images, "t1w") if k in names]
        done = _register(data.t1w_img, paths["t1w"], registration, "T1w", shared, previous)
        out = {"t1w": done, **dict.fromkeys(images, done)}
        row["registration"] = f"{label} via T1w"
    else:
        out = {
            m: _register(img, paths[m], registration, _IMAGE[m], [names.get(m, "")], previous)
            for m, img in images.items()
        }
        row["registration"] = f"{label} via " + " and ".join(_IMAGE[m] for m in out)
        if data.t1w_img is not None:  # sessions differ: the T1w (for the tissue maps) is placed by its own registration
            out["t1w"] = _register(data.t1w_img, paths["t1w"], registration, "T1w", [names.get("t1w", "")], previous)
            row["registration"] += " and T1w, each on its own (the images come from different sessions)"
    _fill(row, out, row["registration"] + declared)
    return out


def _without_declared_mni(data: Any) -> tuple[Any, str]:
    """The row's data without the images whose names declare an MNI152 space (an fMRIPrep ``space-MNI152…``
    BOLD beside a QSIPrep ``space-ACPC`` DWI, say): those are already placed, and registering the row's other
    images must not move them. Also the note for the row's registration column."""
    import dataclasses

    from pds_mri.preprocess.registration import declared_mni

    inputs = getattr(data, "inputs", None)
    kept = [m for m, a in (("fmri", "bold"), ("dmri", "dwi")) if getattr(data, f"{a}_img") is not None]
    mni = [m for m in kept if declared_mni(Path(getattr(inputs, "bold" if m == "fmri" else "dwi") or "").name)]
    if not mni or not dataclasses.is_dataclass(data):
        return data, ""
    emptied = {f"{'bold' if m == 'fmri' else 'dwi'}_img": None for m in mni}
    note = "; " + " and ".join("fMRI" if m == "fmri" else "dMRI" for m in mni) + " as declared (space-MNI152)"
    return dataclasses.replace(data, **emptied), note  # type: ignore[type-var]


def _fill(row: dict, out: dict[str, Registered], label: str) -> None:
    row["registration"] = label
    kept = list(out.values())
    row["registration_qc"] = min(float(r.record["QC"]) for r in kept if "QC" in r.record)
    row["registration_dice"] = min(float(r.record["Dice"]) for r in kept if "Dice" in r.record)


def _derivative_transforms(data: Any) -> dict[str, Registered]:
    """Every image's fMRIPrep/QSIPrep transform, when each image of the row has one ({} otherwise: a row is
    placed one way, not half by the derivative and half by ANTs); the T1w shares its frame's transform. A
    transform file that is there but unusable is named in one warning line, and the row goes to ANTs."""
    from pds_mri.preprocess.itk_h5 import UnusableTransform
    from pds_mri.progress import console

    try:
        return _derivative_transforms_or_raise(data)
    except UnusableTransform as err:
        console.print(f"[yellow]derivative transform not used, registering with ANTs instead: {err}", soft_wrap=True)
        return {}


def _derivative_transforms_or_raise(data: Any) -> dict[str, Registered]:
    from pds_mri.preprocess import derivative_transforms
    from pds_mri.preprocess.registration import dice, qc, reference_image

    inputs = getattr(data, "inputs", None)
    images = {
        m: (img, getattr(inputs, a, None))
        for m, img, a in (("fmri", data.bold_img, "bold"), ("dmri", data.dwi_img, "dwi"))
        if img is not None
    }
    out: dict[str, Registered] = {}
    read: dict[Path, ToMNI] = {}  # one file read once, though BOLD, DWI and T1w share it
    for m, (img, path) in images.items():
        found = derivative_transforms.find(path, cache=read)
        if found is None:
            return {}
        transform, source = found
        reference = reference_image(img)
        scores = {"QC": round(qc(reference, transform), 4), "Dice": round(dice(reference, transform), 4)}
        record = {"Registration": "derivatives", "Reference": {"Path": str(Path(source).resolve())}} | scores
        out[m] = Registered(transform, record | {"Via": Path(source).name})
    if data.t1w_img is not None:  # the tissue maps need the T1w placed too: its own frame's transform, or ANTs
        t1w = derivative_transforms.find(getattr(inputs, "t1w", None), default_space="T1w", cache=read)
        if t1w is None:
            return {}
        out["t1w"] = Registered(t1w[0], {"Registration": "derivatives", "Via": t1w[1].name})
    return out


def xfm_record(registered: Registered, row: dict) -> dict[str, Any]:
    """The fields of a registration JSON besides the transform itself (io/transform_files.transform_json)."""
    kind = registered.record["Registration"]
    return {
        "Method": f"{row['registration']} ({METHOD[kind]}"
        + (")" if kind == "derivatives" else ", to nilearn's MNI152 T1 template at 4 mm)"),
        **registered.record,
    }
