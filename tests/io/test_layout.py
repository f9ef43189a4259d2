"""Prepared-directory names and index columns with and without sessions (io/layout.py)."""

from __future__ import annotations

from pds_mri.io import layout


def test_a_session_row_keeps_ses_in_its_folder_and_every_name() -> None:
    assert layout.grid_map("sub-01", "fmri", "alff", "ses-02") == (
        "sub-01/ses-02/sub-01_ses-02_space-fmrigrid_desc-alff_fmri.nii.gz"
    )
    assert layout.grid_mask("sub-01", "dmri", "ses-02") == "sub-01/ses-02/sub-01_ses-02_space-dmrigrid_mask.nii.gz"
    assert layout.native_to_mni("sub-01", "dmri", "ses-2").startswith("sub-01/ses-2/sub-01_ses-2_desc-dmri_from-")
    assert layout.synthesis_name("sub-01", "ses-02", "", "synth", "dmri", ".json") == (
        "sub-01/ses-02/sub-01_ses-02_desc-synth_dmri.json"
    )
    assert layout.grid_map("sub-01", "fmri", "alff") == "sub-01/sub-01_space-fmrigrid_desc-alff_fmri.nii.gz"


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
