"""Disease patterns: default-mode ALFF and affected-WM FA fall from NC to MCI to AD."""

from __future__ import annotations

import numpy as np
from dipy.core.gradients import gradient_table as dipy_table
from dipy.reconst.dti import TensorModel

from pds_mri.simulate.cohort import SubjectPlan, simulate_subject
from pds_mri.simulate.priors import dosenbach

GROUPS = {"NC": 0.0, "MCI": 0.5, "AD": 1.0}


def _alff(data: np.ndarray, tr: float) -> np.ndarray:
    """Mean spectral amplitude in 0.01–0.08 Hz of the linearly detrended, mean-scaled series."""
    t = np.arange(data.shape[-1], dtype=float)
    x = data.reshape(-1, data.shape[-1]).astype(float)
    mean = x.mean(1, keepdims=True)
    coef = np.polyfit(t, x.T, 1)
    resid = x - (coef[0][:, None] * t + coef[1][:, None])
    amp = np.abs(np.fft.rfft(resid / np.maximum(mean, 1e-6), axis=1)) * 2 / len(t)
    f = np.fft.rfftfreq(len(t), tr)
    band = (f >= 0.01) & (f <= 0.08)
    return amp[:, band].mean(1).reshape(data.shape[:-1])


def _sphere_mask(world: np.ndarray, centres: np.ndarray, radius: float) -> np.ndarray:
    d2 = ((world[..., None, :] - centres) ** 2).sum(-1)
    return (d2 <= radius**2).any(-1)


def test_alff_and_fa_order_nc_mci_ad(cpu_config) -> None:
    rois = dosenbach()
    dmn = rois.centres[rois.network == rois.index("default")]
    motor = rois.centres[rois.network == rois.index("sensorimotor")]
    alff_dmn: dict[str, list[float]] = {g: [] for g in GROUPS}
    alff_motor: dict[str, list[float]] = {g: [] for g in GROUPS}
    fa_sick: dict[str, list[float]] = {g: [] for g in GROUPS}
    k = 0
    for group, severity in GROUPS.items():
        for _ in range(2):
            scans = simulate_subject(cpu_config, 21, SubjectPlan(k, f"sub-{k:03d}", group, severity, 72, "M"))
            k += 1
            bold = scans.bold
            alff = _alff(bold.data, bold.repetition_time)
            gm = bold.anatomy.gm > 0.3
            alff_dmn[group].append(alff[gm & _sphere_mask(bold.anatomy.world, dmn, 8.0)].mean())
            alff_motor[group].append(alff[gm & _sphere_mask(bold.anatomy.world, motor, 8.0)].mean())
            dwi = scans.dwi
            gtab = dipy_table(dwi.gradients.bvals, bvecs=dwi.gradients.bvecs, b0_threshold=50)
            sick = (dwi.disease_weight > 0.5) & (dwi.anatomy.wm > 0.5)
            fit = TensorModel(gtab).fit(dwi.data.astype(np.float64), mask=sick)
            fa_sick[group].append(fit.fa[sick].mean())
    m = {g: np.mean(v) for g, v in alff_dmn.items()}
    assert m["NC"] > m["MCI"] > m["AD"], m
    assert m["AD"] < 0.85 * m["NC"], m
    # Specific to the default mode: sensorimotor ALFF barely moves.
    motor_ratio = np.mean(alff_motor["AD"]) / np.mean(alff_motor["NC"])
    assert 0.9 < motor_ratio < 1.1, motor_ratio
    fa = {g: np.mean(v) for g, v in fa_sick.items()}
    assert fa["NC"] > fa["MCI"] > fa["AD"], fa
    assert fa["NC"] - fa["AD"] > 0.05, fa
