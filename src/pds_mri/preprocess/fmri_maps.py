"""fMRI maps (docs/maps.md): temporal mean, ALFF and fALFF of a BOLD run."""

from __future__ import annotations

from typing import Literal

import nibabel as nib
import numpy as np
from scipy.signal import detrend

from pds_mri.config import Maps
from pds_mri.errors import InputError
from pds_mri.preprocess._image import float_image

FmriKind = Literal["mean", "alff", "falff"]
_CHUNK_VOXELS = 32768  # bounds the float64 working copy of a long high-resolution run
_ZERO_SIGNAL_RTOL = 1e-9  # detrended residual below this fraction of the raw signal is rounding noise


def _steady_state(bold: np.ndarray, dummy_scans: int) -> np.ndarray:
    if bold.ndim != 4:
        raise ValueError(f"BOLD must be 4D (x, y, z, t), got shape {bold.shape}")
    if dummy_scans < 0 or dummy_scans >= bold.shape[3]:
        raise ValueError(f"dummy_scans={dummy_scans} leaves no volume of {bold.shape[3]}")
    return bold[..., dummy_scans:]


def mean_map(bold: np.ndarray, dummy_scans: int = 0) -> np.ndarray:
    """Temporal mean after dropping the non-steady-state volumes (the paper's default fMRI map)."""
    return _steady_state(bold, dummy_scans).mean(axis=3, dtype=np.float64).astype(np.float32)


def alff_maps(
    bold: np.ndarray, tr: float, band: tuple[float, float] = (0.01, 0.08), dummy_scans: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """ALFF and fALFF per voxel, as float32 3D arrays.

    Definition (n = volumes kept after `dummy_scans`): each voxel's series is linearly detrended
    (scipy.signal.detrend), X = numpy.fft.rfft(x), frequencies f_k = k / (n * tr) for k = 0..n//2.
    The amplitude is the single-sided spectrum A_k = 2 |X_k| / n (a sinusoid of amplitude a at a bin
    frequency gives A_k = a; the Nyquist bin is not halved), i.e. the square root of the power.
    ALFF = mean of A_k over band[0] <= f_k <= band[1];
    fALFF = sum of A_k in the band / sum of A_k over 0 < f_k <= Nyquist. Voxels with no signal left after
    detrending (residual <= 1e-9 of the raw maximum: background, constant or purely linear series) get
    ALFF = fALFF = 0, not NaN or a ratio of rounding errors.
    """
    x = _steady_state(bold, dummy_scans)
    n = x.shape[3]
    if tr <= 0:
        raise ValueError(f"TR must be > 0, got {tr}")
    freqs = np.fft.rfftfreq(n, d=tr)
    in_band = (freqs >= band[0]) & (freqs <= band[1])
    if not in_band.any():
        raise ValueError(f"no frequency of a {n}-volume run at TR {tr} s lies in {band} Hz")
    nonzero = freqs > 0
    flat = x.reshape(-1, n)
    alff = np.empty(flat.shape[0], dtype=np.float64)
    falff = np.empty(flat.shape[0], dtype=np.float64)
    for start in range(0, flat.shape[0], _CHUNK_VOXELS):
        raw = flat[start : start + _CHUNK_VOXELS].astype(np.float64)
        block = detrend(raw, axis=1, type="linear")
        # A constant or linear series leaves only rounding noise; call it zero signal, not a spectrum.
        flat_line = np.abs(block).max(axis=1) <= _ZERO_SIGNAL_RTOL * np.abs(raw).max(axis=1)
        block[flat_line] = 0.0
        amp = 2.0 * np.abs(np.fft.rfft(block, axis=1)) / n
        band_sum = amp[:, in_band].sum(axis=1)
        total = amp[:, nonzero].sum(axis=1)
        alff[start : start + block.shape[0]] = band_sum / in_band.sum()
        falff[start : start + block.shape[0]] = np.divide(band_sum, total, out=np.zeros_like(band_sum), where=total > 0)
    shape = x.shape[:3]
    return alff.reshape(shape).astype(np.float32), falff.reshape(shape).astype(np.float32)


def fmri_map(
    img: nib.Nifti1Image, kind: FmriKind, tr: float, maps: Maps, data: np.ndarray | None = None
) -> nib.Nifti1Image:
    """The configured fMRI map as a 3D float32 image in the BOLD run's own affine.

    `data` is the run's voxel array when the caller already read it (validation forces a full read),
    so a large run is not decoded twice.
    """
    bold = img.get_fdata(dtype=np.float32) if data is None else data
    if kind == "mean":
        data = mean_map(bold, maps.dummy_scans)
    elif kind in ("alff", "falff"):
        kept = bold.shape[3] - maps.dummy_scans if bold.ndim == 4 else 0
        if kept < maps.min_alff_volumes:
            raise InputError(
                img.get_filename() or "<BOLD image>",
                f"{kept} volumes after dummy scans; {kind.upper()} needs >= {maps.min_alff_volumes}",
            )
        alff, falff = alff_maps(bold, tr, maps.alff_band_hz, maps.dummy_scans)
        data = alff if kind == "alff" else falff
    else:
        raise ValueError(f"unknown fMRI map {kind!r}; choose mean, alff or falff")
    return float_image(data, img.affine, like=img)
