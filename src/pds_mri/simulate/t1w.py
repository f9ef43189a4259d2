"""T1-weighted image of one simulated subject: WM > GM > CSF contrast from the same anatomy.

Model (a test bed, not a claim about brains): a skull-stripped-looking image (no scalp or skull), isotropic
`t1w_voxel_mm` voxels over a box that holds the MNI brain plus a margin, a smooth coil bias and Rician
noise with σ = WM / (1.5·SNR) (structural scans are cleaner than EPI).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pds_mri.config import Simulation
from pds_mri.simulate.anatomy import AnatomySample, SubjectAnatomy
from pds_mri.simulate.grids import native_affine
from pds_mri.simulate.noise import bias_field, rician
from pds_mri.simulate.priors import BRAIN_BOX_MM

T1_INTENSITY = {"gm": 620.0, "wm": 1000.0, "csf": 220.0}
_MARGIN_MM = 12.0


@dataclass(frozen=True)
class T1wImage:
    data: np.ndarray  # (X, Y, Z) float32
    affine: np.ndarray
    anatomy: AnatomySample


def t1w_shape(voxel_mm: float) -> tuple[int, int, int]:
    fov = BRAIN_BOX_MM[1] - BRAIN_BOX_MM[0] + 2 * _MARGIN_MM
    return tuple(int(np.ceil(f / voxel_mm)) for f in fov)  # type: ignore[return-value]


def simulate_t1w(anatomy: SubjectAnatomy, sim: Simulation, rng: np.random.Generator) -> T1wImage:
    vox = float(sim.t1w_voxel_mm)
    shape = t1w_shape(vox)
    centre = BRAIN_BOX_MM.mean(axis=0)
    affine = native_affine(shape, (vox, vox, vox), rng, centre_mm=centre)
    smp = anatomy.sample(affine, shape, (vox, vox, vox))
    clean = T1_INTENSITY["gm"] * smp.gm + T1_INTENSITY["wm"] * smp.wm + T1_INTENSITY["csf"] * smp.csf
    clean = (clean * bias_field(smp.world, rng, 0.15)).astype(np.float32)
    data = rician(clean, T1_INTENSITY["wm"] / (1.5 * sim.snr), rng)
    return T1wImage(data=data, affine=affine, anatomy=smp)
