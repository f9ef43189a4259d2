"""The inverse of a displacement field, for a derivative that ships only its forward (MNI -> native) composite.

For grid points p, the inverse field v satisfies p + v(p) + u(p + v(p)) = p, so v is the fixed point of
v <- -u(p + v) (the iteration ITK's and ANTs' field inverters use); it converges when the field is smooth
(|grad u| < 1, no folding); the residual is measured where p + v stays on the grid (outside it u is 0, as in
ITK, and a field is ~0 at its border anyway). The result lies on u's grid, vectors in the same LPS mm, which is what
`ToMNI.inverse_warp` expects. A field that does not converge to `TOLERANCE_MM` is refused by the caller.
"""

from __future__ import annotations

import nibabel as nib
import numpy as np
from scipy import ndimage

ITERATIONS = 50
TOLERANCE_MM = 0.1
_LPS = np.array([-1.0, -1.0, 1.0], dtype=np.float32)


def invert(field: nib.Nifti1Image) -> tuple[nib.Nifti1Image, float]:
    """The inverse field (X, Y, Z, 1, 3) of `field` and its worst residual |v + u(p + v)| in mm (on the grid)."""
    shape = field.shape[:3]
    u = np.asarray(field.dataobj, dtype=np.float32).reshape(*shape, 3) * _LPS  # RAS mm
    ijk = np.indices(shape, dtype=np.float32).reshape(3, -1)
    step = np.linalg.inv(field.affine[:3, :3]).astype(np.float32)  # RAS mm -> voxels

    def u_at(v: np.ndarray) -> np.ndarray:
        vox = ijk + step @ v  # the voxel of p + v
        return np.stack([ndimage.map_coordinates(u[..., k], vox, order=1, cval=0.0) for k in range(3)])

    v = -u.reshape(-1, 3).T.copy()
    residual = float("inf")
    for _ in range(ITERATIONS):
        new = -u_at(v)
        residual = float(np.abs(new - v).max())
        v = new
        if residual < TOLERANCE_MM / 10:
            break
    inside = np.all((ijk + step @ v >= 0) & (ijk + step @ v <= np.asarray(shape, np.float32)[:, None] - 1), axis=0)
    residual = float(np.abs(v + u_at(v))[:, inside].max()) if inside.any() else float("inf")
    data = (v.T.reshape(*shape, 1, 3) * _LPS).astype(np.float32)
    out = nib.Nifti1Image(data, field.affine)
    out.header.set_intent("vector")
    return out, residual
