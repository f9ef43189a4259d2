"""Shared signal and noise ingredients: Rician magnitude noise, smooth coil bias, band-limited series."""

from __future__ import annotations

import numpy as np

from pds_mri.simulate.priors import BRAIN_CENTRE_MM


def rician(signal: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Magnitude of a complex signal with Gaussian noise in both channels (how MR magnitude images look:
    Rayleigh background, biased low-SNR voxels). Works in float32 and in place to stay fast."""
    sig = np.float32(sigma)
    real = rng.standard_normal(signal.shape, dtype=np.float32)
    real *= sig
    real += signal
    np.square(real, out=real)
    imag = rng.standard_normal(signal.shape, dtype=np.float32)
    imag *= sig
    np.square(imag, out=imag)
    real += imag
    return np.sqrt(real, out=real)


def bias_field(world: np.ndarray, rng: np.random.Generator, amplitude: float = 0.1) -> np.ndarray:
    """Smooth multiplicative receive-coil bias: exp of a random quadratic in world coordinates."""
    p = (world - BRAIN_CENTRE_MM.astype(np.float32)) / np.float32(100.0)
    x, y, z = p[..., 0], p[..., 1], p[..., 2]
    terms = [x, y, z, x * x, y * y, z * z, x * y, x * z, y * z]
    coef = rng.normal(0.0, 1.0, len(terms))
    coef *= amplitude / np.sqrt(len(terms))
    log_b = sum(np.float32(c) * t for c, t in zip(coef, terms, strict=True))
    return np.exp(log_b).astype(np.float32)


def band_limited(
    rng: np.random.Generator, n: int, length: int, tr: float, band_hz: tuple[float, float] = (0.01, 0.08)
) -> np.ndarray:
    """`n` unit-variance series of `length` samples with power only in `band_hz` (resting-state band)."""
    freqs = np.fft.rfftfreq(length, d=tr)
    keep = (freqs >= band_hz[0]) & (freqs <= band_hz[1])
    if not keep.any():  # runs too short to resolve the band: use the lowest non-DC frequency
        keep[min(1, len(keep) - 1)] = True
    spec = rng.standard_normal((n, freqs.size)) + 1j * rng.standard_normal((n, freqs.size))
    spec[:, ~keep] = 0.0
    series = np.fft.irfft(spec, n=length, axis=1)
    series -= series.mean(axis=1, keepdims=True)
    std = series.std(axis=1, keepdims=True)
    return (series / np.where(std > 0, std, 1.0)).astype(np.float32)
