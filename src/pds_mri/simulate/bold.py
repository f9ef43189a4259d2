"""Resting-state BOLD run of one simulated subject on its native EPI grid.

Model (a test bed, not a claim about brains):
- baseline T2*-weighted EPI contrast from the tissue fractions: CSF brightest, then GM, then WM (as at
  3 T, TE ≈ 30 ms), times a smooth coil bias and a susceptibility dropout at the orbitofrontal cortex and
  temporal poles;
- fluctuations: each Dosenbach network has one shared band-limited (0.01–0.08 Hz) signal; each ROI mixes it
  with its own (75 % / 25 % variance), and places it with a Gaussian (σ 7 mm) around the ROI centre, in
  grey matter only (3 % at an ROI centre in pure GM); a weak global grey-matter signal; the default-mode
  amplitude falls with severity (×(1 − 0.5·severity));
- a linear scanner drift (global plus per voxel), and Rician magnitude noise with σ = GM baseline / (2·SNR)
  (grey-matter temporal SNR ≈ 50 at the default SNR 30).
There is no head motion, no physiological (cardiac/respiratory) noise, no slice timing and no geometric
distortion: what an affine resample cannot undo is absent by design (docs/maps.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pds_mri.config import Simulation
from pds_mri.simulate.anatomy import AnatomySample, SubjectAnatomy
from pds_mri.simulate.grids import native_affine
from pds_mri.simulate.noise import band_limited, bias_field, rician
from pds_mri.simulate.priors import dosenbach, gaussian_sum

# Baseline intensity per tissue (arbitrary units; GM = 1000 defines the SNR reference).
BOLD_INTENSITY = {"gm": 1000.0, "wm": 780.0, "csf": 1350.0}
NETWORK_AMPLITUDE = 0.03  # fractional BOLD fluctuation (std) at an ROI centre in pure GM
GLOBAL_AMPLITUDE = 0.004
ROI_SIGMA_MM = 7.0
SHARED_VARIANCE = 0.75
DMN_LOSS_PER_SEVERITY = 0.5
# EPI thermal noise relative to the configured SNR: gives a grey-matter temporal SNR of about 1.7·SNR
# (≈ 50 at the default 30), typical of 3 T resting-state runs.
NOISE_FACTOR = 0.5
_DROPOUT_CENTRES_MM = np.array([[0, 38, -24], [40, 8, -36], [-40, 8, -36]], dtype=float)


@dataclass(frozen=True)
class BoldRun:
    data: np.ndarray  # (X, Y, Z, T) float32, magnitude
    affine: np.ndarray
    repetition_time: float
    anatomy: AnatomySample  # ground-truth tissue on the BOLD grid
    network_amplitude: dict[str, float]  # fractional amplitude per network (ground truth)


def dmn_amplitude(severity: float) -> float:
    """Default-mode fluctuation amplitude at a given severity (never negative)."""
    return NETWORK_AMPLITUDE * max(0.0, 1.0 - DMN_LOSS_PER_SEVERITY * severity)


def simulate_bold(anatomy: SubjectAnatomy, sim: Simulation, rng: np.random.Generator) -> BoldRun:
    shape, n_vol, tr = tuple(sim.bold_shape), int(sim.bold_volumes), float(sim.repetition_time)
    affine = native_affine(shape, sim.bold_voxel_mm, rng)
    smp = anatomy.sample(affine, shape, sim.bold_voxel_mm)
    base = BOLD_INTENSITY["gm"] * smp.gm + BOLD_INTENSITY["wm"] * smp.wm + BOLD_INTENSITY["csf"] * smp.csf
    dropout = 1.0 - 0.6 * np.minimum(gaussian_sum(smp.template, _DROPOUT_CENTRES_MM, 9.0), 1.0)
    base = (base * dropout * bias_field(smp.world, rng, 0.1)).astype(np.float32)

    rois = dosenbach()
    n_net = len(rois.networks)
    shared = band_limited(rng, n_net, n_vol, tr)
    own = band_limited(rng, len(rois.centres), n_vol, tr)
    roi_series = np.sqrt(SHARED_VARIANCE) * shared[rois.network] + np.sqrt(1 - SHARED_VARIANCE) * own
    amp_net = np.full(n_net, NETWORK_AMPLITUDE)
    amp_net[rois.index("default")] = dmn_amplitude(anatomy.severity)
    roi_series *= amp_net[rois.network, None].astype(np.float32)
    global_series = GLOBAL_AMPLITUDE * band_limited(rng, 1, n_vol, tr)[0]

    inside = smp.brain > 0.01
    pts = smp.template[inside]
    # Squared distances via |p|² + |c|² − 2 p·c: one small matmul instead of a (voxels × ROIs × 3) array.
    c = rois.centres.astype(np.float32)
    d2 = (pts**2).sum(1)[:, None] + (c**2).sum(1)[None, :] - 2.0 * pts @ c.T
    weights = np.exp(-np.maximum(d2, 0.0) / np.float32(2 * ROI_SIGMA_MM**2))
    gm_in = smp.gm[inside][:, None]
    delta = gm_in * (weights @ roi_series + global_series[None, :])

    ramp = np.linspace(-0.5, 0.5, n_vol, dtype=np.float32)
    slope = rng.normal(0.0, 0.01) + rng.normal(0.0, 0.005, int(inside.sum())).astype(np.float32)
    drift = slope[:, None] * ramp[None, :]

    signal = np.zeros((*shape, n_vol), np.float32)
    signal[inside] = base[inside][:, None] * (1.0 + delta) * (1.0 + drift)
    data = rician(signal, NOISE_FACTOR * BOLD_INTENSITY["gm"] / sim.snr, rng)
    amps = {name: float(amp_net[i]) for i, name in enumerate(rois.networks)}
    return BoldRun(data=data, affine=affine, repetition_time=tr, anatomy=smp, network_amplitude=amps)
