"""Native acquisition grids of the simulated scans.

Grids are stored LAS (x voxel axis pointing left, negative determinant), as most scanner converters
write axial acquisitions: then FSL-style bvecs and voxel-frame bvecs (dipy) agree, and readers must
honour the affine rather than assume RAS. The only departure from MNI is a small random translation per
scan, so an affine resample onto an MNI grid is exact (no rotation, no non-linear distortion).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pds_mri.simulate.priors import BRAIN_CENTRE_MM


def native_affine(
    shape: Sequence[int],
    voxel_mm: Sequence[float],
    rng: np.random.Generator,
    jitter_mm: float = 3.0,
    centre_mm: Sequence[float] | None = None,
) -> np.ndarray:
    """LAS voxel→world affine whose central voxel lands on the brain centre plus a random shift."""
    centre = np.asarray(BRAIN_CENTRE_MM if centre_mm is None else centre_mm, float)
    centre = centre + rng.normal(0.0, jitter_mm, 3)
    aff = np.diag([-float(voxel_mm[0]), float(voxel_mm[1]), float(voxel_mm[2]), 1.0])
    half = (np.asarray(shape[:3], float) - 1.0) / 2.0
    aff[:3, 3] = centre - aff[:3, :3] @ half
    # Rounded so that the header (float32) and the simulation see the same geometry.
    return np.round(aff, 3)


def world_coords(affine: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """World (mm) coordinates of every voxel centre, shape (*shape, 3), float32."""
    idx = np.indices(tuple(shape[:3]), dtype=np.float32)
    aff = np.asarray(affine, np.float32)
    return np.einsum("ij,j...->...i", aff[:3, :3], idx) + aff[:3, 3]
