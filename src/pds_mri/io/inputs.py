"""One row's raw inputs (a subject, or a subject-session), as found in BIDS, fMRIPrep/QSIPrep derivatives or a
CSV manifest."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SubjectInputs:
    participant_id: str  # with the "sub-" prefix
    diagnosis: str | None = None  # NC / MCI / AD, or None when unknown
    age: float | None = None
    sex: str | None = None
    bold: Path | None = None  # 4D BOLD run
    bold_sidecar: Path | None = None  # JSON with RepetitionTime
    repetition_time: float | None = None  # from a manifest, when there is no sidecar
    dwi: Path | None = None  # 4D DWI
    bval: Path | None = None
    bvec: Path | None = None
    t1w: Path | None = None
    session_id: str | None = None  # "ses-Y": the session this row is; None for a dataset without sessions
    # The session each image came from, when it is not `session_id` (io/bids.py pairs the nearest session).
    bold_session: str | None = None
    dwi_session: str | None = None
    t1w_session: str | None = None

    @property
    def row_id(self) -> str:
        """``sub-X`` or ``sub-X_ses-Y``: the row's unique id and the prefix of its output files."""
        from pds_mri.io.layout import row_key

        return row_key(self.participant_id, self.session_id)

    @property
    def pairing(self) -> str:
        """cohort.tsv's pairing cell: "same session", or which images came from which other session."""
        borrowed = [
            f"{kind} from {ses}"
            for kind, ses, path in (
                ("bold", self.bold_session, self.bold),
                ("dwi", self.dwi_session, self.dwi),
                ("T1w", self.t1w_session, self.t1w),
            )
            if path is not None and ses is not None and ses != self.session_id
        ]
        return "; ".join(borrowed) if borrowed else "same session"

    @property
    def one_session(self) -> bool:
        """Every image from the row's own session (one scanner frame): one registration may place them all."""
        return self.pairing == "same session"

    @property
    def has_fmri(self) -> bool:
        return self.bold is not None

    @property
    def has_dmri(self) -> bool:
        return self.dwi is not None
