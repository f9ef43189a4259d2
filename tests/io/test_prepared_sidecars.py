"""The BIDS URIs through which a prepared directory's native maps name their input scans."""

from __future__ import annotations

from pathlib import Path

from pds_mri.io.prepared_sidecars import source_uri


def test_source_uri_picks_the_deepest_linked_dataset(tmp_path: Path) -> None:
    raw, deriv = tmp_path / "my data", tmp_path / "my data" / "derivatives" / "fmriprep"
    links = {"raw": raw.as_uri(), "deriv1": deriv.as_uri()}
    assert source_uri(raw / "sub-1/func/a_bold.nii.gz", links) == "bids:raw:sub-1/func/a_bold.nii.gz"
    assert source_uri(deriv / "sub-1/func/b_bold.nii.gz", links) == "bids:deriv1:sub-1/func/b_bold.nii.gz"
    assert source_uri(tmp_path / "elsewhere.nii.gz", links).startswith("file://")
