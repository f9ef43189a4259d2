"""One subject's raw inputs, as found in BIDS, fMRIPrep/QSIPrep derivatives or a CSV manifest."""

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

    @property
    def has_fmri(self) -> bool:
        return self.bold is not None

    @property
    def has_dmri(self) -> bool:
        return self.dwi is not None
