"""Prepared-directory names and index columns with and without sessions (io/layout.py)."""

from __future__ import annotations

from pds_mri.io import layout


def test_a_session_row_keeps_ses_in_its_folder_and_every_name() -> None:
    assert layout.grid_map("sub-01", "fmri", "alff", "ses-02") == (
        "sub-01/ses-02/func/sub-01_ses-02_task-rest_space-fmrigrid_desc-alff_boldmap.nii.gz"
    )
    assert layout.grid_mask("sub-01", "dmri", "ses-02") == (
        "sub-01/ses-02/anat/sub-01_ses-02_space-dmrigrid_desc-brain_mask.nii.gz"
    )
    assert layout.native_to_mni("sub-01", "dmri", "ses-2").startswith("sub-01/ses-2/dwi/sub-01_ses-2_from-native_")
    assert layout.synthesis_name("sub-01", "ses-02", "", "provenance", "dmri", ".json", kind="fa") == (
        "sub-01/ses-02/dwi/sub-01_ses-02_desc-faProvenance_FA.json"
    )


def test_maps_keep_the_input_entities_and_take_bids_suffixes() -> None:
    """task, acq, run ... of the input scan stay in every map's name; dMRI maps take the spec's suffixes."""
    bold = "sub-01_ses-1_task-nback_acq-mb4_run-2_echo-1_bold.nii.gz"
    ents = layout.source_entities(bold, "fmri")
    assert ents == {"task": "nback", "acq": "mb4", "run": "2", "echo": "1"}
    assert layout.native_map("sub-01", "fmri", "alff", "ses-1", ents) == (
        "sub-01/ses-1/func/sub-01_ses-1_task-nback_acq-mb4_run-2_echo-1_desc-alff_boldmap.nii.gz"
    )
    dwi = layout.source_entities("sub-01_acq-b1000_dir-AP_run-1_dwi.nii.gz", "dmri")
    assert layout.grid_map("sub-01", "dmri", "fa", None, dwi) == (
        "sub-01/dwi/sub-01_acq-b1000_dir-AP_run-1_space-dmrigrid_desc-fa_FA.nii.gz"
    )
    assert layout.map_suffix("dmri", "md") == "ADC" and layout.map_suffix("dmri", "mean") == "trace"
    assert layout.source_entities(None, "fmri") == {"task": "rest"}  # func/ requires a task
    assert layout.entities_of(layout.grid_map("sub-01", "dmri", "fa", None, dwi))["space"] == "dmrigrid"


def test_an_atlas_from_before_the_bids_names_is_still_found(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert layout.find_pattern_atlas(tmp_path, "fmri") == tmp_path / layout.pattern_atlas("fmri")
    (tmp_path / "atlas").mkdir()
    (tmp_path / "atlas" / "space-fmrigrid_pattern.nii.gz").write_bytes(b"x")
    (tmp_path / "atlas" / "pattern.tsv").write_bytes(b"x")
    assert layout.find_pattern_atlas(tmp_path, "fmri") == tmp_path / "atlas" / "space-fmrigrid_pattern.nii.gz"
    assert layout.find_pattern_table(tmp_path) == tmp_path / "atlas" / "pattern.tsv"


def test_index_columns_gain_session_id_only_when_a_row_has_a_session() -> None:
    columns = ("participant_id", "diagnosis")
    plain = [{"participant_id": "sub-01"}]
    assert layout.index_columns(columns, plain, extra=("pairing",)) == ["participant_id", "diagnosis"]
    mixed = [*plain, {"participant_id": "sub-02", "session_id": "ses-01"}]
    assert layout.index_columns(columns, mixed, extra=("pairing",)) == [
        "participant_id", "session_id", "diagnosis", "pairing",
    ]  # fmt: skip
    assert [layout.with_session(r)["session_id"] for r in mixed] == ["n/a", "ses-01"]
    assert [layout.key_of(r) for r in mixed] == ["sub-01", "sub-02_ses-01"]
    assert layout.session_of({"session_id": "n/a"}) is None and layout.session_of({"session_id": "01"}) == "ses-01"
