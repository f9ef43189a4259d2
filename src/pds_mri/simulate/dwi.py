"""Diffusion-weighted run of one simulated subject: one diffusion tensor per voxel, real gradient table.

Model (a test bed, not a claim about brains):
- acquisition: `dwi_b0s` b0 volumes interleaved with `dwi_directions` directions taken from dipy's real
  small_64D table (b ≈ 1000 s/mm²) by farthest-point selection (deterministic, antipodally symmetric);
- per voxel S = S0·exp(−b gᵀDg), with D the tissue-fraction average of a WM tensor
  (λ∥ 1.5e-3, λ⊥ 0.4e-3 mm²/s, FA ≈ 0.69, smooth ±5 % jitter), isotropic GM (0.8e-3) and CSF (3e-3);
  S0 is T2-weighted (CSF > GM > WM);
- WM orientation: a smooth field built from left-right (corpus callosum), inferior-superior (corona
  radiata/corticospinal) and anterior-posterior (association tracts) components plus smooth noise;
- disease: in the temporal stem, parahippocampal and posterior cingulum and fornix, λ⊥ rises
  (+60 %·severity) and λ∥ falls (−5 %·severity) at the centre of each region: FA drops, MD rises;
- Rician noise with σ = WM b0 / SNR.
Images are stored LAS, so bvecs are given in the voxel frame and FSL's convention agrees with it.
The ground truth (FA, MD, disease weight, tissue) is returned for tests and benchmarks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from pds_mri.config import Simulation
from pds_mri.errors import PdsError
from pds_mri.simulate.anatomy import AnatomySample, SubjectAnatomy
from pds_mri.simulate.grids import native_affine
from pds_mri.simulate.noise import bias_field, rician
from pds_mri.simulate.priors import (
    DISEASE_WM_CENTRES_MM,
    DISEASE_WM_SIGMA_MM,
    gaussian_sum,
    small_64d_table,
)

S0_INTENSITY = {"gm": 1300.0, "wm": 1000.0, "csf": 2400.0}  # WM = 1000 is the SNR reference
WM_LAMBDA_PARALLEL = 1.5e-3
WM_LAMBDA_PERP = 0.4e-3
GM_MD = 0.8e-3
CSF_MD = 3.0e-3
DISEASE_PERP_GAIN = 0.6
DISEASE_PARALLEL_LOSS = 0.05


@dataclass(frozen=True)
class GradientTable:
    bvals: np.ndarray  # (N,) s/mm², integers as written to .bval
    bvecs: np.ndarray  # (N, 3) voxel-frame unit vectors as written to .bvec; zeros for b0


@dataclass(frozen=True)
class DwiRun:
    data: np.ndarray  # (X, Y, Z, N) float32, magnitude
    affine: np.ndarray
    gradients: GradientTable
    fa: np.ndarray  # ground-truth FA of the simulated tensor (0 outside the brain)
    md: np.ndarray  # ground-truth MD, mm²/s
    v1: np.ndarray  # (X, Y, Z, 3) ground-truth WM fibre direction in world (RAS) axes
    disease_weight: np.ndarray  # 0…1: where the disease acts on the white matter
    anatomy: AnatomySample  # ground-truth tissue on the DWI grid


def gradient_table(n_directions: int, n_b0: int) -> GradientTable:
    """b0s interleaved evenly with `n_directions` well-spread directions of dipy's small_64D table."""
    bvals, bvecs = small_64d_table()
    if not 6 <= n_directions <= len(bvals):
        raise PdsError(f"dwi_directions must be between 6 and {len(bvals)} (the small_64D table), got {n_directions}")
    if n_b0 < 1:
        raise PdsError(f"dwi_b0s must be >= 1, got {n_b0}")
    chosen = [0]
    closeness = np.abs(bvecs @ bvecs[0])
    while len(chosen) < n_directions:
        nxt = int(np.argmin(np.where(np.isin(np.arange(len(bvals)), chosen), np.inf, closeness)))
        chosen.append(nxt)
        closeness = np.maximum(closeness, np.abs(bvecs @ bvecs[nxt]))
    chosen = sorted(chosen)  # keep the scanner's acquisition order
    total = n_directions + n_b0
    b0_at = {round(i * total / n_b0) for i in range(n_b0)}
    out_b = np.zeros(total)
    out_g = np.zeros((total, 3))
    it = iter(chosen)
    for i in range(total):
        if i not in b0_at:
            j = next(it)
            out_b[i] = np.round(bvals[j])
            out_g[i] = bvecs[j]
    # What is simulated must equal what is written: round, then renormalise to unit length.
    out_g = np.round(out_g, 6)
    norm = np.linalg.norm(out_g, axis=1, keepdims=True)
    out_g = np.where(norm > 0, out_g / np.where(norm > 0, norm, 1.0), 0.0)
    return GradientTable(bvals=out_b, bvecs=out_g)


def disease_wm_weight(template: np.ndarray) -> np.ndarray:
    """0…1 weight of the disease effect on white matter at template (MNI) points (..., 3)."""
    return np.minimum(gaussian_sum(template, DISEASE_WM_CENTRES_MM, DISEASE_WM_SIGMA_MM), 1.0)


def _fibre_direction(template: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Smooth unit WM orientation field (..., 3) in world axes."""
    x, y, z = template[..., 0], template[..., 1], template[..., 2]
    callosal = np.exp(-(x**2) / (2 * 18.0**2) - (z - 20.0) ** 2 / (2 * 8.0**2)) * (np.abs(y + 5) < 40)
    projection = np.exp(-((np.abs(x) - 24.0) ** 2) / (2 * 10.0**2)) / (1.0 + np.exp(-(z - 5.0) / 6.0))
    vec = np.zeros(template.shape, np.float32)
    vec[..., 0] = 1.5 * callosal
    vec[..., 2] = 1.2 * projection
    vec[..., 1] = 0.6
    # Smooth perturbation, evaluated on a coarse MNI grid and interpolated.
    coarse = ndi.gaussian_filter(rng.standard_normal((3, 26, 30, 26)), sigma=(0, 2, 2, 2)) * 4.0
    idx = (template - np.array([-104.0, -140.0, -96.0], np.float32)) / np.float32(8.0)
    coords = np.moveaxis(idx, -1, 0).reshape(3, -1)
    for k in range(3):
        vec[..., k] += 0.35 * ndi.map_coordinates(coarse[k], coords, order=1, mode="nearest").reshape(
            template.shape[:-1]
        )
    norm = np.linalg.norm(vec, axis=-1, keepdims=True)
    return vec / np.maximum(norm, 1e-6)


def _fa_md(evals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    md = evals.mean(axis=-1)
    num = np.sqrt(((evals - md[..., None]) ** 2).sum(axis=-1))
    den = np.sqrt((evals**2).sum(axis=-1))
    fa = np.sqrt(1.5) * num / np.where(den > 0, den, 1.0)
    return fa, md


def simulate_dwi(anatomy: SubjectAnatomy, sim: Simulation, rng: np.random.Generator) -> DwiRun:
    shape = tuple(sim.dwi_shape)
    table = gradient_table(int(sim.dwi_directions), int(sim.dwi_b0s))
    affine = native_affine(shape, sim.dwi_voxel_mm, rng)
    smp = anatomy.sample(affine, shape, sim.dwi_voxel_mm)
    inside = smp.brain > 0.01
    tpl = smp.template[inside]
    gm, wm, csf = smp.gm[inside], smp.wm[inside], smp.csf[inside]
    frac = np.maximum(gm + wm + csf, 1e-6)

    sev = np.float32(anatomy.severity)
    dis = disease_wm_weight(tpl)
    jitter_field = ndi.gaussian_filter(rng.standard_normal((26, 30, 26)), sigma=2.0)
    jitter_field /= max(float(jitter_field.std()), 1e-9)
    idx = (tpl - np.array([-104.0, -140.0, -96.0], np.float32)) / np.float32(8.0)
    jitter = ndi.map_coordinates(jitter_field, idx.T, order=1, mode="nearest").astype(np.float32)
    lam_par = WM_LAMBDA_PARALLEL * (1 + 0.05 * jitter) * (1 - DISEASE_PARALLEL_LOSS * sev * dis)
    lam_perp = WM_LAMBDA_PERP * (1 + DISEASE_PERP_GAIN * sev * dis)
    e1 = _fibre_direction(tpl, rng)
    iso = (gm * GM_MD + csf * CSF_MD + wm * lam_perp) / frac
    aniso = wm * (lam_par - lam_perp) / frac
    tensor = iso[:, None, None] * np.eye(3, dtype=np.float32) + aniso[:, None, None] * (e1[:, :, None] * e1[:, None, :])

    # Voxel-frame bvecs → world directions through the affine's rotation (the x flip of LAS).
    rot = affine[:3, :3] / np.linalg.norm(affine[:3, :3], axis=0)
    g = table.bvecs @ rot.T
    bg = (table.bvals[:, None, None] * g[:, :, None] * g[:, None, :]).astype(np.float32)
    exponent = np.einsum("nij,vij->vn", bg, tensor, optimize=True)
    s0 = (S0_INTENSITY["gm"] * gm + S0_INTENSITY["wm"] * wm + S0_INTENSITY["csf"] * csf) * bias_field(
        smp.world[inside], rng, 0.1
    )
    signal = np.zeros((*shape, len(table.bvals)), np.float32)
    signal[inside] = s0[:, None] * np.exp(-exponent)
    data = rician(signal, S0_INTENSITY["wm"] / sim.snr, rng)

    fa_in, md_in = _fa_md(np.linalg.eigvalsh(tensor.astype(np.float64)))
    fa = np.zeros(shape, np.float32)
    md = np.zeros(shape, np.float32)
    weight = np.zeros(shape, np.float32)
    v1 = np.zeros((*shape, 3), np.float32)
    fa[inside], md[inside], weight[inside], v1[inside] = fa_in, md_in, dis, e1
    return DwiRun(data=data, affine=affine, gradients=table, fa=fa, md=md, v1=v1, disease_weight=weight, anatomy=smp)
