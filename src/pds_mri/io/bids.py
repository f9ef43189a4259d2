"""Find each subject's inputs in a BIDS dataset, its fMRIPrep/QSIPrep derivatives, or a CSV manifest.

pybids does the indexing and sidecar inheritance; this module only chooses, per subject, which run
to use: a preprocessed MNI-space run when one exists (that is how most users arrive), else the raw run.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pds_mri.errors import InputError, PdsError
from pds_mri.io.bids_filters import BidsFilters, check_entities, query_for, read_bids_filters
from pds_mri.io.inputs import SubjectInputs
from pds_mri.io.layout import check_participant_id, check_session_id
from pds_mri.io.sessions import plan_sessions, report_session_notes, session_of_image

#: Diagnosis spellings seen in OASIS-3, ADNI and hospital cohorts, mapped onto NC / MCI / AD.
DIAGNOSIS_ALIASES: dict[str, str] = {
    "nc": "NC", "cn": "NC", "hc": "NC", "control": "NC", "normal": "NC", "healthy": "NC",
    "mci": "MCI", "emci": "MCI", "lmci": "MCI",
    "ad": "AD", "dementia": "AD", "alzheimer": "AD",
}  # fmt: skip
_NIFTI = [".nii", ".nii.gz"]
_PREFERRED_SPACES = ("MNI152NLin2009cAsym", "MNI152NLin6Asym", "MNI152Lin", "MNI")
# Participant ids name output folders and files: no path separators, no "..", nothing a shell or TSV mangles.


def parse_diagnosis_map(text: str | None) -> dict[str, str | None]:
    """`--diagnosis-map "SMC=NC,uncertain dementia=AD,other=unknown"`: the user's labels (case-insensitive)
    onto NC / MCI / AD, or ``unknown`` to silence the warning for a label meant to stay unlabelled."""
    if text is None or not text.strip():
        return {}
    out: dict[str, str | None] = {}
    for item in text.split(","):
        label, sep, target = item.partition("=")
        label, target = label.strip(), target.strip()
        if not sep or not label or not target:
            raise PdsError(f"--diagnosis-map: {item.strip()!r} is not LABEL=TARGET (e.g. SMC=NC,EMCI=MCI)")
        if target.upper() not in ("NC", "MCI", "AD", "UNKNOWN"):
            raise PdsError(f"--diagnosis-map: {label} -> {target!r}; the target must be NC, MCI, AD or unknown")
        if label.lower() in out:
            raise PdsError(f"--diagnosis-map: {label!r} is mapped twice")
        out[label.lower()] = None if target.upper() == "UNKNOWN" else target.upper()
    return out


def normalise_diagnosis(
    value: str | None, source: str | Path, diagnosis_map: Mapping[str, str | None] | None = None
) -> str | None:
    """Map a diagnosis label onto NC/MCI/AD — the user's `--diagnosis-map` first, then the known spellings;
    empty or any other label (ADNI "SMC", OASIS-3 "uncertain dementia", …) means unknown: the subject is kept
    — it can still be imputed and trained on — and the label is reported once per file by
    :func:`report_unknown_diagnoses`, never silently and never fatal."""
    if value is None or value.strip() in ("", "n/a", "NA", "nan"):
        return None
    key = value.strip().lower()
    if diagnosis_map and key in diagnosis_map:
        return diagnosis_map[key]
    if key not in DIAGNOSIS_ALIASES:
        _UNKNOWN_LABELS.setdefault(str(source).split(" line ")[0], Counter())[value.strip()] += 1
        return None
    return DIAGNOSIS_ALIASES[key]


_UNKNOWN_LABELS: dict[str, Counter[str]] = {}


def report_unknown_diagnoses() -> list[str]:
    """One warning line per file with labels outside NC/MCI/AD (their subjects count as unknown); resets."""
    from pds_mri.progress import console

    lines = [
        f"{path}: diagnosis label(s) {', '.join(f'{k!r} ({n})' for k, n in sorted(c.items()))} are not NC, MCI "
        "or AD (or a known spelling); those subjects are kept with an unknown diagnosis (map them with "
        "--diagnosis-map LABEL=NC|MCI|AD|unknown)"
        for path, c in _UNKNOWN_LABELS.items()
    ]
    _UNKNOWN_LABELS.clear()
    for line in lines:
        console.print(f"[yellow]warning:[/yellow] {line}")
    return lines


def discover(
    root: Path,
    participant_labels: Sequence[str] = (),
    derivatives: Sequence[Path] = (),
    diagnosis_column: str = "diagnosis",
    session_labels: Sequence[str] = (),
    bids_filter_file: Path | None = None,
    diagnosis_map: Mapping[str, str | None] | None = None,
) -> list[SubjectInputs]:
    """Subjects of a BIDS dataset (raw or derivative), or of a CSV manifest when `root` is a .csv file.

    `session_labels` and `bids_filter_file` (io/bids_filters.py) restrict the runs each subject's inputs are
    picked from; a subject left with neither a BOLD nor a DWI run is not listed."""
    root = Path(root)
    filters = read_bids_filters(bids_filter_file) if bids_filter_file is not None else {}
    if root.is_file() and root.suffix.lower() in (".csv", ".tsv"):
        if session_labels or bids_filter_file is not None:
            raise InputError(
                root, "--session-label and --bids-filter-file select runs of a BIDS dataset, not rows of a manifest"
            )
        subjects = read_manifest(root, diagnosis_map)
    elif root.is_dir():
        subjects = _discover_bids(
            root, list(derivatives), diagnosis_column, tuple(session_labels), filters, bids_filter_file, diagnosis_map
        )
    else:
        raise InputError(root, "not found (expected a BIDS directory or a CSV manifest)")
    if participant_labels:
        wanted = {_with_prefix(label) for label in participant_labels}
        unknown = wanted - {s.participant_id for s in subjects}
        if unknown:
            raise InputError(root, f"participant(s) not found: {', '.join(sorted(unknown))}")
        subjects = [s for s in subjects if s.participant_id in wanted]
    if not subjects:
        raise InputError(root, "no subject with a BOLD or DWI run found")
    return subjects


def read_manifest(path: Path, diagnosis_map: Mapping[str, str | None] | None = None) -> list[SubjectInputs]:
    """A CSV manifest: subject, fmri, dmri, bval, bvec, diagnosis [, session, tr, t1w, age, sex].

    Paths are relative to the manifest, so a manifest and its data can move together. With a `session`
    column a subject may have one line per session (each a row, named sub-X_ses-Y like a BIDS session).
    """
    text = _read_text(path)
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    rows = _read_rows(path, text, delimiter)
    required = {"subject", "fmri", "dmri", "bval", "bvec", "diagnosis"}
    columns = {c for c in rows[0] if c is not None} if rows else set()  # None: cells beyond the header
    if not rows or not required <= columns:
        raise InputError(path, f"manifest must have columns {sorted(required)}; found {sorted(columns)}")
    base = path.parent
    subjects: list[SubjectInputs] = []
    seen: set[tuple[str, str | None]] = set()
    for line, row in enumerate(rows, start=2):
        pid = _with_prefix((row.get("subject") or "").strip())
        check_participant_id(pid, path, line)
        label = (row.get("session") or "").strip()
        ses = None if label.lower() in ("", "n/a") else check_session_id(_with_prefix(label, "ses-"), path, line)
        if (pid, ses) in seen:
            raise InputError(path, f"line {line}: duplicate subject {pid}" + ("" if ses is None else f" {ses}"))
        seen.add((pid, ses))

        def resolve(key: str, row: dict[str, str] = row) -> Path | None:
            value = (row.get(key) or "").strip()
            return (base / value) if value else None

        tr_text = (row.get("tr") or "").strip()
        try:
            tr = float(tr_text) if tr_text else None
        except ValueError:
            raise InputError(path, f"line {line}: tr {tr_text!r} is not a number") from None
        subjects.append(
            SubjectInputs(
                participant_id=pid,
                diagnosis=normalise_diagnosis(row.get("diagnosis"), f"{path} line {line}", diagnosis_map),
                age=_float_or_none(row.get("age")),
                sex=(row.get("sex") or "").strip() or None,
                bold=resolve("fmri"),
                repetition_time=tr,
                dwi=resolve("dmri"),
                bval=resolve("bval"),
                bvec=resolve("bvec"),
                t1w=resolve("t1w"),
                session_id=ses,
            )
        )
    return subjects


def _discover_bids(
    root: Path,
    derivatives: list[Path],
    diagnosis_column: str,
    sessions: tuple[str, ...] = (),
    filters: BidsFilters | None = None,
    filter_file: Path | None = None,
    diagnosis_map: Mapping[str, str | None] | None = None,
) -> list[SubjectInputs]:
    from bids import BIDSLayout  # heavy import, only when BIDS is read

    description = root / "dataset_description.json"
    if not description.is_file():
        raise InputError(root, "not a BIDS dataset (dataset_description.json missing)")
    try:
        kind = json.loads(_read_text(description)).get("DatasetType", "raw")
    except json.JSONDecodeError:
        raise InputError(description, "invalid JSON") from None
    for folder in derivatives:  # a mistyped --derivatives must not fall back to the raw runs silently
        if not Path(folder).is_dir():
            raise InputError(folder, "--derivatives folder not found")
        if not (Path(folder) / "dataset_description.json").is_file():
            raise InputError(folder, "--derivatives folder has no dataset_description.json")
    try:
        layout = BIDSLayout(
            root,
            validate=False,
            is_derivative=kind == "derivative",
            derivatives=[str(d) for d in derivatives] or False,
        )
    except Exception as exc:  # pybids raises several types for malformed datasets
        raise InputError(root, f"pybids could not index the dataset ({exc})") from None
    participants = _read_participants(root, diagnosis_column, diagnosis_map)
    filters = filters or {}
    check_entities(filter_file, filters, list(layout.get_entities()))
    if sessions:
        found = set(layout.get_sessions())
        missing = sorted({s.removeprefix("ses-") for s in sessions} - found)
        if missing:
            raise InputError(root, f"session(s) not found: {', '.join('ses-' + m for m in missing)}")
    labels = sorted(layout.get_subjects())
    _check_participant_ids(root / "participants.tsv", participants, {f"sub-{label}" for label in labels})
    subjects = []
    for label in labels:
        pid = check_participant_id(f"sub-{label}", root / f"sub-{label}")
        picks = {kind: _picks(layout, label, suffix, datatype, query_for(kind, filters, sessions))
                 for kind, suffix, datatype in _KINDS}  # fmt: skip
        visits = _read_sessions_table(root, pid, diagnosis_column, diagnosis_map)
        acq_times = {ses: v["acq_time"] for ses, v in visits.items() if v["acq_time"] is not None}
        rows, notes = plan_sessions(pid, picks["bold"], picks["dwi"], picks["t1w"], acq_times)
        for row in rows:
            bold, dwi = picks["bold"].get(row.bold), picks["dwi"].get(row.dwi)
            meta = _row_meta(participants.get(pid, {}), visits.get(row.session or "", {}))
            mixed = _mixed_visit_diagnoses(visits, row.bold, row.dwi)
            if mixed:  # the two maps of the row were made at visits with different diagnoses: no single label
                meta["diagnosis"] = None
                notes.append(f"{pid}: the row's fMRI and dMRI come from visits diagnosed {mixed}; its diagnosis is "
                             "left unknown")  # fmt: skip
            subjects.append(
                SubjectInputs(
                    participant_id=pid,
                    diagnosis=meta.get("diagnosis"),
                    age=_float_or_none(meta.get("age")),
                    sex=meta.get("sex") or None,
                    bold=bold,
                    bold_sidecar=_sidecar(bold),
                    repetition_time=_tr(layout, bold),
                    dwi=dwi,
                    bval=_gradient_file(layout, dwi, "bval"),
                    bvec=_gradient_file(layout, dwi, "bvec"),
                    t1w=picks["t1w"].get(row.t1w),
                    session_id=row.session,
                    bold_session=session_of_image(row.bold),
                    dwi_session=session_of_image(row.dwi),
                    t1w_session=session_of_image(row.t1w),
                )
            )
        report_session_notes(notes)
    return subjects


_KINDS = (("bold", "bold", "func"), ("dwi", "dwi", "dwi"), ("t1w", "T1w", "anat"))


def _picks(
    layout: object, label: str, suffix: str, datatype: str, extra: dict[str, Any] | None = None
) -> dict[str | None, Path]:
    """The preferred run of each session ('ses-Y'; None for files without a session entity).

    Prefer a preprocessed run in MNI space, then the rest-state task, then the first run by name.
    `extra`: the user's filters (`--bids-filter-file`, `--session-label`), added to and overriding this query."""
    query: dict[str, Any] = {"subject": label, "suffix": suffix, "datatype": datatype, "extension": _NIFTI}
    from bids.layout import Query

    query.update({k: Query.NONE if v is None else v for k, v in (extra or {}).items()})  # null: entity absent
    files = layout.get(**query, scope="all")  # type: ignore[attr-defined]

    def rank(f: object) -> tuple[int, int, int, str]:
        ent = f.get_entities()  # type: ignore[attr-defined]
        space = ent.get("space")
        space_rank = _PREFERRED_SPACES.index(space) if space in _PREFERRED_SPACES else len(_PREFERRED_SPACES)
        preproc = 0 if ent.get("desc") == "preproc" else 1
        rest = 0 if ent.get("task", "rest") == "rest" else 1
        return (space_rank if space else len(_PREFERRED_SPACES) + 1, preproc, rest, f.path)  # type: ignore[attr-defined]

    by_session: dict[str | None, list[object]] = {}
    for f in files:
        ses = f.get_entities().get("session")
        by_session.setdefault(None if ses is None else f"ses-{ses}", []).append(f)
    return {ses: Path(sorted(group, key=rank)[0].path) for ses, group in by_session.items()}  # type: ignore[attr-defined]


def _read_sessions_table(
    root: Path, pid: str, diagnosis_column: str, diagnosis_map: Mapping[str, str | None] | None
) -> dict[str, dict[str, Any]]:
    """Each session's row of sub-X/sub-X_sessions.tsv (BIDS): ``acq_time`` (seconds since the epoch, or None),
    and the visit's ``age`` and diagnosis (`diagnosis_column`) when the table has them — cohorts such as
    OASIS-3 and ADNI record both per visit, and a converter's sessions carry different diagnoses."""
    import datetime as dt

    path = root / pid / f"{pid}_sessions.tsv"
    if not path.is_file():
        return {}
    out: dict[str, dict[str, Any]] = {}
    for line, row in enumerate(_read_rows(path, _read_text(path), "\t"), start=2):
        ses = (row.get("session_id") or "").strip()
        if not ses:
            continue
        record: dict[str, Any] = {"acq_time": None}
        try:
            stamp = dt.datetime.fromisoformat((row.get("acq_time") or "").strip())
            record["acq_time"] = (stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.timezone.utc)).timestamp()
        except ValueError:
            pass  # n/a or unparseable: that session falls back to label order
        if _given(row.get("age")):
            record["age"] = row["age"]
        if _given(row.get(diagnosis_column)):
            record["diagnosis"] = normalise_diagnosis(row.get(diagnosis_column), f"{path} line {line}", diagnosis_map)
        out[ses if ses.startswith("ses-") else f"ses-{ses}"] = record
    return out


def _mixed_visit_diagnoses(visits: Mapping[str, Mapping[str, Any]], bold: str | None, dwi: str | None) -> str:
    """'MCI (ses-1) and AD (ses-2)' when the BOLD and the DWI of a row come from sessions whose sessions.tsv
    diagnoses differ; '' otherwise (one session, or a diagnosis missing at either visit)."""
    sessions = [session_of_image(bold), session_of_image(dwi)]
    if None in sessions or sessions[0] == sessions[1]:
        return ""
    labels = [visits.get(str(ses), {}).get("diagnosis") for ses in sessions]
    if None in labels or labels[0] == labels[1]:
        return ""
    return " and ".join(f"{label} ({ses})" for label, ses in zip(labels, sessions, strict=True))


def _row_meta(participant: Mapping[str, Any], visit: Mapping[str, Any]) -> dict[str, Any]:
    """A row's diagnosis, age and sex: the session's own values (sessions.tsv) over the participant's."""
    return {**participant, **{k: v for k, v in visit.items() if k in ("diagnosis", "age")}}


def _given(value: str | None) -> bool:
    return value is not None and value.strip() not in ("", "n/a", "NA", "nan")


def _sidecar(image: Path | None) -> Path | None:
    if image is None:
        return None
    name = image.name.removesuffix(".gz").removesuffix(".nii") + ".json"
    return image.with_name(name) if image.with_name(name).is_file() else None


def _tr(layout: object, bold: Path | None) -> float | None:
    if bold is None:
        return None
    try:
        value = layout.get_metadata(str(bold)).get("RepetitionTime")  # type: ignore[attr-defined]
    except Exception:
        return None  # the validator reports the missing or unreadable TR, naming the file
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _gradient_file(layout: object, dwi: Path | None, ext: str) -> Path | None:
    if dwi is None:
        return None
    stem = dwi.name.removesuffix(".gz").removesuffix(".nii")
    own = dwi.with_name(f"{stem}.{ext}")
    if own.is_file():
        return own
    try:  # BIDS inheritance: a dataset-level dwi.bval applies to every run
        found = layout.get_bval(str(dwi)) if ext == "bval" else layout.get_bvec(str(dwi))  # type: ignore[attr-defined]
    except Exception:
        found = None
    return Path(found) if found else own  # a missing file is reported by the validator


def _check_participant_ids(path: Path, participants: Mapping[str, object], folders: set[str]) -> None:
    """participants.tsv ids that differ from a subject folder only in case would drop that subject's diagnosis
    silently (BIDS labels are case-sensitive): an error. Folders not listed at all: one warning."""
    from pds_mri.progress import console

    def key(pid: str) -> str:  # "SUB-001" arrives as "sub-SUB-001": its own prefix is not recognised
        return pid.lower().removeprefix("sub-").removeprefix("sub-")

    by_key = {key(f): f for f in folders}
    for pid in participants:
        folder = by_key.get(key(pid))
        if pid not in folders and folder is not None:
            raise InputError(path, f"participant_id '{pid}' differs only in case from the folder {folder}; fix one")
    unlisted = sorted(folders - set(participants))
    if participants and unlisted:
        shown = ", ".join(unlisted[:5]) + (" ..." if len(unlisted) > 5 else "")
        console.print(f"[yellow]warning:[/yellow] {path}: {len(unlisted)} subject folder(s) not listed ({shown}); "
                      "their diagnosis is unknown")  # fmt: skip


def _read_participants(
    root: Path, diagnosis_column: str, diagnosis_map: Mapping[str, str | None] | None = None
) -> dict[str, dict[str, str | None]]:
    from pds_mri.progress import console

    path = root / "participants.tsv"
    if not path.is_file():
        return {}
    rows = _read_rows(path, _read_text(path), "\t")
    if rows and "participant_id" not in rows[0]:
        raise InputError(path, "no participant_id column")
    if rows and diagnosis_column not in rows[0]:
        columns = ", ".join(c for c in rows[0] if c)
        if diagnosis_column != "diagnosis":  # asked for by name: a typo must not drop every label
            raise InputError(path, f"no '{diagnosis_column}' column (--diagnosis-column); columns: {columns}")
        console.print(f"[yellow]warning:[/yellow] {path}: no 'diagnosis' column (columns: {columns}); every "
                      "diagnosis is unknown — name the column with --diagnosis-column")  # fmt: skip
    out: dict[str, dict[str, str | None]] = {}
    for line, row in enumerate(rows, start=2):
        pid = _with_prefix((row.get("participant_id") or "").strip())
        if pid in out:
            raise InputError(path, f"line {line}: duplicate participant {pid}")
        out[pid] = {
            "diagnosis": normalise_diagnosis(row.get(diagnosis_column), f"{path} line {line}", diagnosis_map),
            "age": row.get("age"),
            "sex": row.get("sex"),
        }
    return out


def _read_rows(path: Path, text: str, delimiter: str) -> list[dict[str, str]]:
    try:
        return list(csv.DictReader(text.splitlines(), delimiter=delimiter))
    except csv.Error as exc:  # e.g. a field above csv's size limit (an unclosed quote swallowing the file)
        raise InputError(path, f"not a readable table ({exc})") from None


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")  # a spreadsheet's byte-order mark is not part of the header
    except FileNotFoundError:
        raise InputError(path, "not found") from None
    except UnicodeDecodeError:
        raise InputError(path, "not a UTF-8 text file") from None
    except OSError as exc:
        raise InputError(path, f"unreadable ({exc.strerror or exc.__class__.__name__})") from None


def _with_prefix(label: str, prefix: str = "sub-") -> str:
    return label if label.startswith(prefix) else f"{prefix}{label}"


def _float_or_none(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "", "n/a") else None
    except ValueError:
        return None
