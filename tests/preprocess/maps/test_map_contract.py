"""The contract every registered map keeps: a new file in `preprocess/maps/` is checked here without being
named. Real tiny inputs: nibabel's bundled BOLD run (17 x 21 x 3, 20 volumes, TR 2 s) and dipy's small_64D
DWI (10 x 10 x 10, 1 b0 + 64 directions)."""

from __future__ import annotations

import shutil
from pathlib import Path

import nibabel as nib
import nibabel.testing
import numpy as np
import pytest
from dipy.data import get_fnames

from pds_mri.config import Maps
from pds_mri.errors import InputError
from pds_mri.io.inputs import SubjectInputs
from pds_mri.io.validate import validate_subject
from pds_mri.preprocess.dmri_maps import dmri_map
from pds_mri.preprocess.fmri_maps import fmri_map
from pds_mri.preprocess.maps import DMRI_MAPS, FMRI_MAPS, MAPS, BoldRun, GradientTable

BOLD = Path(nibabel.testing.data_path) / "functional.nii"
SMALL_64D = tuple(Path(p) for p in get_fnames(name="small_64D"))
TR = 2.0


def _maps(modality: str, name: str, **kw: object) -> Maps:
    return Maps(**{f"{modality}_map": name, "min_alff_volumes": 8, **kw})  # type: ignore[arg-type]


def _one_line(err: InputError, path: Path) -> None:
    assert isinstance(err, InputError) and str(path) in str(err) and "\n" not in str(err)


def _gradients() -> GradientTable:
    return GradientTable(SMALL_64D[1], SMALL_64D[2], np.loadtxt(SMALL_64D[1]), np.loadtxt(SMALL_64D[2]))


def test_each_modality_has_its_default_and_described_members() -> None:
    assert set(MAPS) == {"fmri", "dmri"}
    for registry in MAPS.values():
        assert registry.names()[0] == registry.default == "mean"
        for name, cls in registry.items():
            assert registry.help(name) and set(cls.settings) <= set(Maps.model_fields) - {"fmri_map", "dmri_map"}


@pytest.mark.parametrize("name", FMRI_MAPS.names())
def test_every_fmri_map_computes_on_a_real_bold_run(name: str) -> None:
    img = nib.load(BOLD)
    bold = img.get_fdata(dtype=np.float32)
    maps = _maps("fmri", name, dummy_scans=1)
    spec = FMRI_MAPS.get(name)()
    assert spec.check(BoldRun(BOLD, bold.shape[3], TR), maps) == []
    out = spec.compute(bold, TR, maps)
    assert out.shape == bold.shape[:3] and out.dtype == np.float32 and np.isfinite(out).all() and out.std() > 0
    image = fmri_map(img, name, TR, maps)  # what `pds prepare` calls: the same values in the run's affine
    np.testing.assert_array_equal(image.get_fdata(), out)
    np.testing.assert_array_equal(image.affine, img.affine)


@pytest.mark.parametrize("name", FMRI_MAPS.names())
def test_every_fmri_map_refuses_a_run_with_no_time_series_naming_the_file(name: str, tmp_path: Path) -> None:
    """Its check returns one-line InputErrors (it never raises, even on an unreadable TR), and validation
    reports them: a run left with one volume after the dummy scans."""
    maps = _maps("fmri", name, dummy_scans=19)
    spec = FMRI_MAPS.get(name)()
    for run in (BoldRun(BOLD, 20, TR), BoldRun(BOLD, 0, None), BoldRun(BOLD, 20, 1e6)):
        problems = spec.check(run, maps)
        assert problems and all(_one_line(p, BOLD) is None for p in problems)
    bold = Path(shutil.copy(BOLD, tmp_path / "sub-01_bold.nii"))
    errors, data = validate_subject(SubjectInputs("sub-01", bold=bold, repetition_time=TR), maps)
    assert data is None and errors and all(_one_line(e, bold) is None for e in errors)
    with pytest.raises(InputError, match=str(BOLD)):
        fmri_map(nib.load(BOLD), name, TR, maps)  # computing without validating refuses the same input


@pytest.mark.parametrize("name", DMRI_MAPS.names())
def test_every_dmri_map_computes_on_a_real_dwi(name: str) -> None:
    img = nib.load(SMALL_64D[0])
    dwi = img.get_fdata(dtype=np.float32)
    table = _gradients()
    maps = _maps("dmri", name)
    spec = DMRI_MAPS.get(name)()
    assert spec.check(table, maps) == []
    out = spec.compute(dwi, table.bvals, table.bvecs, maps)
    assert out.shape == dwi.shape[:3] and out.dtype == np.float32 and np.isfinite(out).all() and out.std() > 0
    image = dmri_map(img, table.bvals, table.bvecs, name, maps)
    np.testing.assert_array_equal(image.get_fdata(), out)
    np.testing.assert_array_equal(image.affine, img.affine)


@pytest.mark.parametrize("name", DMRI_MAPS.names())
def test_every_dmri_map_refuses_a_table_without_diffusion_weighting_naming_the_file(name: str, tmp_path: Path) -> None:
    maps = _maps("dmri", name)
    spec = DMRI_MAPS.get(name)()
    table = _gradients()
    flat = GradientTable(table.bval, table.bvec, np.zeros_like(table.bvals), table.bvecs)
    one = GradientTable(table.bval, table.bvec, table.bvals[:2], table.bvecs[:2])  # b0 + one direction
    problems = spec.check(flat, maps)
    assert problems and all(str(p.path) in (str(table.bval), str(table.bvec)) for p in problems)
    spec.check(one, maps)  # whatever it needs, it says so instead of raising
    dwi = Path(shutil.copy(SMALL_64D[0], tmp_path / f"sub-01_dwi{''.join(SMALL_64D[0].suffixes)}"))
    bval = tmp_path / "sub-01_dwi.bval"
    bval.write_text(" ".join("0" for _ in table.bvals) + "\n")
    bvec = Path(shutil.copy(SMALL_64D[2], tmp_path / "sub-01_dwi.bvec"))
    errors, data = validate_subject(SubjectInputs("sub-01", dwi=dwi, bval=bval, bvec=bvec), maps)
    assert data is None and errors and all(_one_line(e, bval) is None for e in errors)
