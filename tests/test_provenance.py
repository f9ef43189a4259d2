"""provenance.py: the one GeneratedBy every output carries, in its result-file and its BIDS list form."""

from __future__ import annotations

from pds_mri import __version__
from pds_mri.provenance import GeneratedBy, dataset_generated_by, generated_by


def test_generated_by_names_tool_version_and_command_in_this_order() -> None:
    assert list(generated_by("pds evaluate").items()) == [
        ("Name", "pds-mri"),
        ("Version", __version__),
        ("Command", "pds evaluate"),
    ]
    assert GeneratedBy.model_validate(generated_by("pds diagnose")).Command == "pds diagnose"


def test_dataset_generated_by_is_the_bids_list_with_the_command_as_description() -> None:
    assert dataset_generated_by("pds synthesize") == [
        {"Name": "pds-mri", "Version": __version__, "Description": "pds synthesize"}
    ]
    (entry,) = dataset_generated_by("pds prepare", CommandLine="pds prepare a b", Options={"seed": 0})
    assert list(entry) == ["Name", "Version", "Description", "CommandLine", "Options"]
