"""dMRI maps on dipy's bundled real small_64D acquisition, checked against dipy used directly."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from dipy.core.gradients import gradient_table
from dipy.data import get_fnames
from dipy.reconst.dti import TensorModel

from pds_mri.config import Maps
from pds_mri.preprocess.dmri_maps import dmri_map, mean_dwi, tensor_maps

Dwi = tuple[nib.Nifti1Image, np.ndarray, np.ndarray]


@pytest.fixture(scope="module")
def dwi() -> Dwi:
    nii, bval, bvec = get_fnames(name="small_64D")
    return nib.load(nii), np.loadtxt(bval), np.loadtxt(bvec)


def _dipy_fa_md(data: np.ndarray, bvals: np.ndarray, bvecs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    fit = TensorModel(gradient_table(bvals, bvecs=bvecs, b0_threshold=50)).fit(data)
    return np.nan_to_num(fit.fa), np.nan_to_num(fit.md)


def test_fa_md_equal_dipy(dwi: Dwi) -> None:
    img, bvals, bvecs = dwi
    data = img.get_fdata()
    fa, md = tensor_maps(data, bvals, bvecs, b0_threshold=50, max_b=1500)
    ref_fa, ref_md = _dipy_fa_md(data, bvals, bvecs)
    assert fa.dtype == md.dtype == np.float32 and fa.shape == data.shape[:3]
    assert np.isfinite(fa).all() and np.isfinite(md).all()
    np.testing.assert_allclose(fa, ref_fa, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(md, ref_md, rtol=1e-6, atol=1e-9)
    assert fa.min() >= 0 and fa.max() <= 1 and fa.max() > 0.1


def test_shells_above_max_b_are_ignored(dwi: Dwi) -> None:
    img, bvals, bvecs = dwi
    data = img.get_fdata()
    high = np.concatenate([data, data[..., 1:7] * 0.3], axis=3)
    fa, md = tensor_maps(
        high, np.concatenate([bvals, np.full(6, 3000.0)]), np.concatenate([bvecs, bvecs[1:7]]), 50, 1500
    )
    ref_fa, ref_md = tensor_maps(data, bvals, bvecs, 50, 1500)
    np.testing.assert_array_equal(fa, ref_fa)
    np.testing.assert_array_equal(md, ref_md)


def test_mean_dwi_excludes_b0(dwi: Dwi) -> None:
    img, bvals, _ = dwi
    data = img.get_fdata()
    np.testing.assert_allclose(mean_dwi(data, bvals, 50), data[..., 1:].mean(axis=3), rtol=1e-6)


def test_scanner_b5_counts_as_b0(dwi: Dwi) -> None:
    img, bvals, bvecs = dwi
    data = img.get_fdata()
    b5 = bvals.copy()
    b5[0] = 5.0  # what real scanners write for the "b0"
    np.testing.assert_allclose(mean_dwi(data, b5, 50), data[..., 1:].mean(axis=3), rtol=1e-6)
    fa, md = tensor_maps(data, b5, bvecs, b0_threshold=50, max_b=1500)
    ref_fa, ref_md = _dipy_fa_md(data, b5, bvecs)
    np.testing.assert_allclose(fa, ref_fa, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(md, ref_md, rtol=1e-6, atol=1e-9)


def test_missing_b0_or_directions_is_an_error(dwi: Dwi) -> None:
    img, bvals, bvecs = dwi
    data = img.get_fdata()
    with pytest.raises(ValueError, match="b0"):
        tensor_maps(data[..., 1:], bvals[1:], bvecs[1:], 50, 1500)
    with pytest.raises(ValueError, match="b > 50"):
        mean_dwi(data[..., :1], bvals[:1], 50)


@pytest.mark.parametrize("kind", ["mean", "fa", "md"])
def test_dmri_map_image(dwi: Dwi, kind: str) -> None:
    img, bvals, bvecs = dwi
    assert bvecs.shape == (65, 3)
    out = dmri_map(img, bvals, bvecs, kind, Maps())
    assert out.shape == img.shape[:3] and out.get_data_dtype() == np.float32
    np.testing.assert_array_equal(out.affine, img.affine)
    assert np.isfinite(out.get_fdata()).all()
    same = dmri_map(img, bvals, bvecs.T, kind, Maps())  # 3 x N, as FSL writes them: same map
    np.testing.assert_array_equal(out.get_fdata(), same.get_fdata())
    preloaded = dmri_map(img, bvals, bvecs, kind, Maps(), data=img.get_fdata(dtype=np.float32))
    np.testing.assert_array_equal(out.get_fdata(), preloaded.get_fdata())
