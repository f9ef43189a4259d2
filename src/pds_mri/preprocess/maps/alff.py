"""fMRI `alff` and `falff`: the amplitude of low-frequency fluctuations and its fraction of the spectrum."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import numpy as np

from pds_mri.errors import InputError
from pds_mri.preprocess.maps.base import FMRI_MAPS, BoldMap, BoldRun, steady_state

if TYPE_CHECKING:
    from pds_mri.config import Maps

_CHUNK_VOXELS = 32768  # bounds the float64 working copy of a long high-resolution run
_ZERO_SIGNAL_RTOL = 1e-9  # detrended residual below this fraction of the raw signal is rounding noise


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
    from scipy.signal import detrend

    x = steady_state(bold, dummy_scans)
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


class _LowFrequency(BoldMap):
    """ALFF and fALFF come from one spectrum: they share its needs and its settings."""

    label: ClassVar[str]
    output: ClassVar[int]  # 0: ALFF, 1: fALFF (alff_maps' outputs)
    settings = ("alff_band_hz", "dummy_scans")

    def check(self, run: BoldRun, maps: Maps) -> list[InputError]:
        problems = super().check(run, maps)
        n = run.n_volumes - maps.dummy_scans
        if not problems and n < maps.min_alff_volumes:
            problems.append(
                InputError(
                    run.path,
                    f"BOLD run too short for {self.label}: {n} volumes after dropping {maps.dummy_scans} dummy "
                    f"scan(s), need >= {maps.min_alff_volumes} (what {self.label} needs: maps.min_alff_volumes)",
                )
            )
        low, high = maps.alff_band_hz
        if run.tr is not None and 0.5 / run.tr <= low:
            problems.append(
                InputError(
                    run.path,
                    f"TR {run.tr:g} s is too long for {self.label}: Nyquist {0.5 / run.tr:.3g} Hz "
                    f"is below the {low:g}-{high:g} Hz band",
                )
            )
        return problems

    def compute(self, bold: np.ndarray, tr: float, maps: Maps) -> np.ndarray:
        return alff_maps(bold, tr, maps.alff_band_hz, maps.dummy_scans)[self.output]


@FMRI_MAPS.register("alff", help="mean FFT amplitude in maps.alff_band_hz, default 0.01-0.08 Hz")
class Alff(_LowFrequency):
    label, output = "ALFF", 0


@FMRI_MAPS.register("falff", help="that amplitude's fraction of the 0-Nyquist amplitude")
class Falff(_LowFrequency):
    label, output = "FALFF", 1
