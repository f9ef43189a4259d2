"""Outputs never into, or around, what a command reads (#16 G, I)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pds_mri.errors import InputError
from pds_mri.io.output_place import check_output_apart


def test_output_is_refused_in_or_around_inputs(tmp_path: Path) -> None:
    bids, run = tmp_path / "bids", tmp_path / "run"
    (bids / "sub-001").mkdir(parents=True)
    run.mkdir()
    manifest = tmp_path / "data" / "cohort.tsv"
    manifest.parent.mkdir()
    manifest.write_text("subject\n")
    refused = {
        bids: "is the input dataset",
        bids / "sub-001" / "derivatives" / "x": "lies inside the input dataset",
        bids / "derivatives": "lies inside",  # derivatives/ itself is not a pipeline folder
        manifest.parent: "holds the manifest",  # prepare would overwrite its own input cohort.tsv
        run: "is the run directory",
    }
    for out, problem in refused.items():
        with pytest.raises(InputError, match=problem):
            check_output_apart(
                out, {"input dataset": bids, "manifest": manifest}, {"run directory": run}, bids_root=bids
            )
    # allowed: a BIDS derivatives pipeline folder, a subfolder of a run (RUN/synth), a sibling
    for out in (bids / "derivatives" / "pds", run / "synth", tmp_path / "prepared"):
        check_output_apart(out, {"input dataset": bids, "manifest": manifest}, {"run directory": run}, bids_root=bids)


def test_an_output_that_is_a_file_is_refused_before_anything_is_made(tmp_path: Path) -> None:
    blocker = tmp_path / "out"
    blocker.write_text("not a folder")
    with pytest.raises(InputError, match="exists and is not a directory"):
        check_output_apart(blocker, {})
