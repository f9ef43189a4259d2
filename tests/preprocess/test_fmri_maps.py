"""fMRI maps on nibabel's bundled real BOLD run, checked against an independent per-voxel computation."""

from __future__ import annotations

import os
import warnings

import nibabel as nib
import nibabel.testing
import numpy as np
import pytest

from pds_mri.config import Maps
from pds_mri.errors import InputError
from pds_mri.preprocess.fmri_maps import alff_maps, fmri_map, mean_map

BAND = (0.01, 0.08)


@pytest.fixture(scope="module")
def functional() -> nib.Nifti1Image:
    return nib.load(os.path.join(nibabel.testing.data_path, "functional.nii"))


def _reference_alff(series: np.ndarray, tr: float) -> tuple[float, float]:
    """Straightforward definition: least-squares line removed, full FFT, explicit positive frequencies."""
    n = series.size
    t = np.arange(n, dtype=float)
    slope, intercept = np.polyfit(t, series, 1)
    resid = series - (slope * t + intercept)
    spectrum = np.fft.fft(resid)
    amps, in_band = [], []
    for k in range(1, n // 2 + 1):
        f = k / (n * tr)
        amps.append(2.0 * abs(spectrum[k]) / n)
        in_band.append(BAND[0] <= f <= BAND[1])
    amps_arr, band_arr = np.array(amps), np.array(in_band)
    return amps_arr[band_arr].mean(), amps_arr[band_arr].sum() / amps_arr.sum()


def test_alff_falff_match_reference_on_real_bold(functional: nib.Nifti1Image) -> None:
    bold = functional.get_fdata()
    tr = float(functional.header.get_zooms()[3])
    assert tr == 2.0
    alff, falff = alff_maps(bold, tr, BAND)
    assert alff.shape == falff.shape == bold.shape[:3]
    for ijk in [(0, 0, 0), (8, 10, 1), (16, 20, 2), (3, 17, 0), (12, 5, 1)]:
        ref_alff, ref_falff = _reference_alff(bold[ijk], tr)
        np.testing.assert_allclose(alff[ijk], ref_alff, rtol=1e-5)
        np.testing.assert_allclose(falff[ijk], ref_falff, rtol=1e-5)
    assert np.all((falff > 0) & (falff <= 1))


def test_alff_amplitude_normalisation_on_a_sinusoid() -> None:
    n, tr, amp = 100, 2.0, 3.0
    f = 4 / (n * tr)  # 0.02 Hz, exactly on a bin, inside the band
    # even about the run's centre, so detrending removes only the offset: one clean spectral line
    series = amp * np.cos(2 * np.pi * f * tr * (np.arange(n) - (n - 1) / 2)) + 100.0
    alff, falff = alff_maps(series.reshape(1, 1, 1, n), tr, BAND)
    freqs = np.fft.rfftfreq(n, tr)
    n_band = int(np.sum((freqs >= BAND[0]) & (freqs <= BAND[1])))
    np.testing.assert_allclose(alff[0, 0, 0] * n_band, amp, rtol=1e-6)
    np.testing.assert_allclose(falff[0, 0, 0], 1.0, rtol=1e-6)


def test_zero_signal_voxels_give_zero_without_warnings() -> None:
    bold = np.zeros((2, 2, 1, 30))
    bold[0, 0, 0] = 5.0  # constant, non-zero
    bold[1, 1, 0] = np.random.default_rng(0).normal(size=30)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        alff, falff = alff_maps(bold, 2.0)
    assert np.isfinite(alff).all() and np.isfinite(falff).all()
    assert falff[0, 0, 0] == 0 and falff[0, 1, 0] == 0 and alff[0, 0, 0] == pytest.approx(0, abs=1e-9)
    assert falff[1, 1, 0] > 0


def test_mean_map_and_dummy_scans(functional: nib.Nifti1Image) -> None:
    bold = functional.get_fdata()
    np.testing.assert_allclose(mean_map(bold), bold.mean(axis=3), rtol=1e-6)
    np.testing.assert_allclose(mean_map(bold, dummy_scans=3), bold[..., 3:].mean(axis=3), rtol=1e-6)
    alff_d, falff_d = alff_maps(bold, 2.0, BAND, dummy_scans=4)
    alff_s, falff_s = alff_maps(bold[..., 4:], 2.0, BAND)
    np.testing.assert_array_equal(alff_d, alff_s)
    np.testing.assert_array_equal(falff_d, falff_s)
    assert not np.allclose(alff_d, alff_maps(bold, 2.0, BAND)[0])
    with pytest.raises(ValueError, match="dummy_scans"):
        mean_map(bold, dummy_scans=bold.shape[3])


def test_band_without_frequencies_is_an_error() -> None:
    with pytest.raises(ValueError, match="no frequency"):
        alff_maps(np.ones((1, 1, 1, 10)), 2.0, band=(0.01, 0.02))


@pytest.mark.parametrize("kind", ["mean", "alff", "falff"])
def test_fmri_map_image(functional: nib.Nifti1Image, kind: str) -> None:
    maps = Maps(min_alff_volumes=8, dummy_scans=1)
    out = fmri_map(functional, kind, 2.0, maps)
    assert out.shape == functional.shape[:3]
    assert out.get_data_dtype() == np.float32
    np.testing.assert_array_equal(out.affine, functional.affine)
    assert np.isfinite(out.get_fdata()).all()
    preloaded = fmri_map(functional, kind, 2.0, maps, data=functional.get_fdata(dtype=np.float32))
    np.testing.assert_array_equal(out.get_fdata(), preloaded.get_fdata())


def test_fmri_map_rejects_short_runs_for_alff(functional: nib.Nifti1Image) -> None:
    with pytest.raises(InputError, match="ALFF needs"):
        fmri_map(functional, "alff", 2.0, Maps())  # 20 volumes < 50
    with pytest.raises(ValueError, match="unknown"):
        fmri_map(functional, "reho", 2.0, Maps())  # type: ignore[arg-type]
