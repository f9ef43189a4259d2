"""Which sessions of a subject become rows, and which session each image of a row comes from.

A row is a subject-session: its BOLD and DWI come from the same session, so the two maps of a row never
silently span years. The rule, per subject (sessions sort by label, digits as numbers; "nearest" is the
closest ``acq_time`` of sub-X_sessions.tsv when every session of the subject has one, else the closest in
label order; ties go to the earlier session):

1. Every session with a BOLD and a DWI run is a row ("same session").
2. A session with only one of them is skipped when the subject has a complete session (one warning).
3. A subject with no complete session but both modalities in different sessions: each such session is a row
   that borrows the missing modality from the nearest session holding it (one warning; cohort.tsv's
   `pairing` says which); a session whose pair repeats an earlier row's is not listed twice.
4. A subject with one modality only: one row per session holding it (nothing to pair).

The T1w is the row's own session's, else the nearest session's, else one without a session entity (said so
in `pairing` and a log line). A subject without session entities is one row, exactly as before sessions.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

#: A row's image that does not exist (never a session key: None is the file without a session entity).
ABSENT = "-"


@dataclass(frozen=True)
class SessionRow:
    session: str | None  # the row's own session ("ses-Y"); None for a subject without sessions
    bold: str | None  # the session key of the BOLD used (None: the file without a session), or ABSENT
    dwi: str | None
    t1w: str | None


def plan_sessions(
    pid: str,
    bold: Collection[str | None],
    dwi: Collection[str | None],
    t1w: Collection[str | None],
    acq_times: Mapping[str, float] | None = None,
) -> tuple[list[SessionRow], list[str]]:
    """The rows of one subject from the sessions holding each kind of image, and the lines to report."""
    labelled_bold, labelled_dwi = [s for s in bold if s is not None], [s for s in dwi if s is not None]
    if not labelled_bold and not labelled_dwi:  # no sessions: one row, as before
        if not bold and not dwi:
            return [], []
        t1 = None if None in t1w or not t1w else _ordered(t1w)[0]
        return [SessionRow(None, None if None in bold else ABSENT, None if None in dwi else ABSENT, t1)], []
    notes: list[str] = []
    if None in bold or None in dwi:
        notes.append(f"{pid}: a BOLD or DWI run without a session entity is ignored (the subject has sessions)")
    sessions = _ordered({*labelled_bold, *labelled_dwi})
    order = _distance(_ordered({*sessions, *t1w}), acq_times or {})
    complete = [s for s in sessions if s in labelled_bold and s in labelled_dwi]
    pairs: list[tuple[str, str, str]] = []  # (row session, bold session, dwi session)
    if complete:
        pairs = [(s, s, s) for s in complete]
        for s in sessions:
            if s not in complete:
                has = "BOLD" if s in labelled_bold else "DWI"
                notes.append(
                    f"{pid} {s}: only a {has} run; skipped ({pid} has complete session(s) {', '.join(complete)})"
                )
    elif labelled_bold and labelled_dwi:
        seen: set[tuple[str, str]] = set()
        for s in sessions:
            b = s if s in labelled_bold else order.nearest(s, labelled_bold)
            d = s if s in labelled_dwi else order.nearest(s, labelled_dwi)
            if (b, d) in seen:
                continue
            seen.add((b, d))
            pairs.append((s, b, d))
            lent, kind = (b, "BOLD") if b != s else (d, "DWI")
            notes.append(
                f"{pid} {s}: no {kind} in this session; paired with the {kind} of {lent}, the nearest session with one"
            )
    else:
        pairs = [(s, s if s in labelled_bold else ABSENT, s if s in labelled_dwi else ABSENT) for s in sessions]
    labelled_t1w = [s for s in t1w if s is not None]
    rows = []
    for s, b, d in pairs:
        t1 = s if s in labelled_t1w else order.nearest(s, labelled_t1w) if labelled_t1w else None
        if t1 is None and None not in t1w:
            t1 = ABSENT
        if t1 != s and t1 != ABSENT:
            notes.append(
                f"{pid} {s}: no T1w in this session; using the T1w {'without a session' if t1 is None else 'of ' + t1}"
            )
        rows.append(SessionRow(s, b, d, t1))
    return rows, notes


def report_session_notes(notes: Sequence[str]) -> None:
    from pds_mri.progress import console

    for line in notes:
        console.print(f"[yellow]warning:[/yellow] {line}")


def session_of_image(key: str | None) -> str | None:
    """The session an image of a row came from (None: no image, or one without a session entity)."""
    return None if key in (None, ABSENT) else key


class _Order:
    """Distances between the sessions of one subject: acquisition times when all are known, else label ranks."""

    def __init__(self, position: Mapping[str, float]) -> None:
        self.position = position

    def nearest(self, session: str, among: Collection[str]) -> str:
        here = self.position[session]
        return min(_ordered(among), key=lambda s: abs(self.position[s] - here))  # min keeps the earlier on ties


def _distance(sessions: list[str], acq_times: Mapping[str, float]) -> _Order:
    if all(s in acq_times for s in sessions):
        return _Order({s: acq_times[s] for s in sessions})
    return _Order({s: float(i) for i, s in enumerate(sessions)})


def _ordered(sessions: Collection[str | None]) -> list[str]:
    """Session labels in order, digits compared as numbers (ses-2 before ses-10)."""

    def key(s: str) -> list[tuple[int, int | str]]:
        return [(0, int(part)) if part.isdigit() else (1, part) for part in re.findall(r"\d+|\D+", s)]

    return sorted((s for s in sessions if s is not None), key=key)
