"""io/synthesized.py: the synthesis index reads the same for `pds evaluate` and the report."""

from __future__ import annotations

from pathlib import Path

import pytest

from pds_mri.errors import InputError
from pds_mri.io.synthesized import SYNTH_TSV, read_synthesized


def test_rows_are_stripped_and_empty_cells_are_empty_strings(tmp_path: Path) -> None:
    (tmp_path / SYNTH_TSV).write_text(
        "participant_id\tdirection\tsynthesis\tuncertainty\n sub-01 \tfmri2dmri\ta.nii.gz\t\n"
    )
    assert read_synthesized(tmp_path) == [
        {"participant_id": "sub-01", "direction": "fmri2dmri", "synthesis": "a.nii.gz", "uncertainty": ""}
    ]


def test_a_missing_index_or_column_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"synthesized\.tsv.*pds synthesize"):
        read_synthesized(tmp_path)
    (tmp_path / SYNTH_TSV).write_text("participant_id\tdirection\nsub-01\tfmri2dmri\n")
    with pytest.raises(InputError, match=r"missing column\(s\) \['synthesis'\]"):
        read_synthesized(tmp_path)
