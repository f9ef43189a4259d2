"""read_repetition_time: JSON sidecar first, NIfTI header only when there is no sidecar."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import nibabel as nib
import numpy as np
import pytest

from pds_mri.errors import InputError
from pds_mri.io.sidecar import read_repetition_time


def _bold(tmp: Path, kit: SimpleNamespace, pixdim4: float = 0.0, unit: str = "sec") -> Path:
    img = nib.Nifti1Image(np.ones((3, 3, 2, 4), np.float32), np.eye(4))
    img.header.set_xyzt_units("mm", unit)
    img.header["pixdim"][4] = pixdim4
    nib.save(img, tmp / "sub-01_bold.nii.gz")
    return tmp / "sub-01_bold.nii.gz"


@pytest.mark.parametrize("tr", [2, 0.8, 2.5])
def test_sidecar_tr(tmp_path: Path, kit: SimpleNamespace, tr: float) -> None:
    sidecar = tmp_path / "sub-01_bold.json"
    sidecar.write_text(json.dumps({"RepetitionTime": tr, "TaskName": "rest"}))
    assert read_repetition_time(sidecar, _bold(tmp_path, kit, 9.0)) == pytest.approx(tr)  # sidecar wins


@pytest.mark.parametrize(
    ("text", "keywords"),
    [
        ('{"TaskName": "rest"}', ("missing RepetitionTime",)),
        ('{"RepetitionTime": 2.0,}', ("invalid JSON",)),
        ("not json at all", ("invalid JSON",)),
        ("[2.0]", ("must be an object",)),
        ('{"RepetitionTime": "2.0"}', ("not a number",)),
        ('{"RepetitionTime": true}', ("not a number",)),
        ('{"RepetitionTime": null}', ("not a number",)),
        ('{"RepetitionTime": 0}', ("positive",)),
        ('{"RepetitionTime": -2}', ("positive",)),
        ('{"RepetitionTime": NaN}', ("positive",)),
        ('{"RepetitionTime": 2000}', ("implausible", "milliseconds")),
    ],
)
def test_bad_sidecar(tmp_path: Path, kit: SimpleNamespace, text: str, keywords: tuple[str, ...]) -> None:
    sidecar = tmp_path / "sub-01_bold.json"
    sidecar.write_text(text)
    with pytest.raises(InputError) as info:
        read_repetition_time(sidecar, _bold(tmp_path, kit, 2.0))  # a valid header TR is not a fallback
    kit.assert_one_line_error(info.value, sidecar, *keywords)


def test_missing_sidecar_file(tmp_path: Path, kit: SimpleNamespace) -> None:
    with pytest.raises(InputError) as info:
        read_repetition_time(tmp_path / "gone.json", _bold(tmp_path, kit, 2.0))
    kit.assert_one_line_error(info.value, tmp_path / "gone.json", "not found")


@pytest.mark.parametrize(("pixdim4", "unit", "tr"), [(2.0, "sec", 2.0), (1500.0, "msec", 1.5), (7e5, "usec", 0.7)])
def test_header_fallback_without_sidecar(
    tmp_path: Path, kit: SimpleNamespace, pixdim4: float, unit: str, tr: float
) -> None:
    assert read_repetition_time(None, _bold(tmp_path, kit, pixdim4, unit)) == pytest.approx(tr)


@pytest.mark.parametrize(
    ("pixdim4", "unit", "keywords"),
    [
        (0.0, "sec", ("missing RepetitionTime",)),
        (2.0, "unknown", ("missing RepetitionTime",)),
        (2.0, "hz", ("missing",)),
    ],
)
def test_header_without_usable_tr(
    tmp_path: Path, kit: SimpleNamespace, pixdim4: float, unit: str, keywords: tuple[str, ...]
) -> None:
    bold = _bold(tmp_path, kit, pixdim4, unit)
    with pytest.raises(InputError) as info:
        read_repetition_time(None, bold)
    kit.assert_one_line_error(info.value, bold, *keywords)


def test_nibabel_example4d_header_tr_in_ms_labelled_seconds_is_refused(kit: SimpleNamespace) -> None:
    """example4d.nii.gz stores pixdim[4]=2000 with unit 'sec': a real-world mislabelled header."""
    with pytest.raises(InputError) as info:
        read_repetition_time(None, kit.EXAMPLE4D)
    kit.assert_one_line_error(info.value, kit.EXAMPLE4D, "implausible")


def test_loaded_header_is_used_without_opening_the_file(tmp_path: Path, kit: SimpleNamespace) -> None:
    header = nib.load(_bold(tmp_path, kit, 2.0)).header
    assert read_repetition_time(None, tmp_path / "not-there.nii.gz", header=header) == 2.0
