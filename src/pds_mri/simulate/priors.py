"""Offline priors for the simulator: MNI152 tissue templates, Dosenbach ROIs, dipy's gradient table,
and the hand-placed MNI landmarks where the simulated disease acts.

Everything here ships with nilearn/dipy, so the simulator runs without a network. The landmarks are rough
MNI152 coordinates chosen by eye from the templates (lateral ventricles, hippocampi, temporal white matter,
cingulum): they make disease effects land in plausible places, they are not an atlas.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import ndimage as ndi

TEMPLATE_VOXEL_MM = 2.0

# Lateral-ventricle axis (frontal horn → body → atrium), third ventricle and temporal horns: centres of the
# radial expansion that models ventricular enlargement.
VENTRICLE_CENTRES_MM = np.array(
    [
        [12, 14, 12],
        [-12, 14, 12],
        [15, -10, 20],
        [-15, -10, 20],
        [20, -34, 16],
        [-20, -34, 16],
        [27, -44, 8],
        [-27, -44, 8],
        [0, -16, 2],
        [30, -16, -14],
        [-30, -16, -14],
    ],
    dtype=float,
)
VENTRICLE_SIGMA_MM = 12.0

# Hippocampus (head, body, tail) and entorhinal cortex: focal grey-matter loss.
HIPPOCAMPUS_CENTRES_MM = np.array(
    [
        [26, -12, -20],
        [-26, -12, -20],
        [28, -22, -14],
        [-28, -22, -14],
        [30, -32, -6],
        [-30, -32, -6],
        [22, -6, -30],
        [-22, -6, -30],
    ],
    dtype=float,
)
HIPPOCAMPUS_SIGMA_MM = 7.0

# Lateral/inferior temporal and posterior cingulate/precuneus cortex: broader, milder grey-matter loss.
TEMPORAL_CENTRES_MM = np.array(
    [[48, -18, -20], [-48, -18, -20], [44, -40, -10], [-44, -40, -10], [6, -52, 30], [-6, -52, 30]],
    dtype=float,
)
TEMPORAL_SIGMA_MM = 14.0

# White matter where diffusion changes are placed: temporal stem/inferior longitudinal fasciculus,
# parahippocampal cingulum, posterior cingulum bundle, fornix/splenium.
DISEASE_WM_CENTRES_MM = np.array(
    [
        [38, -20, -10],
        [-38, -20, -10],
        [24, -32, -8],
        [-24, -32, -8],
        [10, -42, 28],
        [-10, -42, 28],
        [0, -36, 14],
    ],
    dtype=float,
)
DISEASE_WM_SIGMA_MM = 10.0

# The point around which head-size scaling and the native grids are centred (as config.Grid).
BRAIN_CENTRE_MM = np.array([0.0, -18.0, 8.0])
# Brain bounding box in MNI152 (from the nilearn brain mask), used to size the T1w field of view.
BRAIN_BOX_MM = np.array([[-72.0, -106.0, -72.0], [72.0, 72.0, 82.0]])


@dataclass(frozen=True)
class Templates:
    """GM, WM, CSF and brain-mask probabilities on the 2 mm MNI grid (channels first, float32)."""

    data: np.ndarray  # (4, X, Y, Z): GM, WM, CSF, brain
    affine: np.ndarray

    @property
    def inverse(self) -> np.ndarray:
        return np.linalg.inv(self.affine)


@lru_cache(maxsize=1)
def _raw_templates() -> Templates:
    from nilearn import datasets

    gm_img = datasets.load_mni152_gm_template(resolution=2)
    gm = gm_img.get_fdata(dtype=np.float32)
    wm = datasets.load_mni152_wm_template(resolution=2).get_fdata(dtype=np.float32)
    brain = datasets.load_mni152_brain_mask(resolution=2).get_fdata(dtype=np.float32)
    gm, wm = gm * brain, wm * brain
    total = gm + wm
    over = total > 1.0
    gm[over] /= total[over]
    wm[over] /= total[over]
    # The templates carry no CSF map: what the brain mask holds beyond GM+WM is ventricles, sulci, cisterns.
    csf = np.clip(brain - gm - wm, 0.0, 1.0)
    data = np.stack([gm, wm, csf, brain]).astype(np.float32)
    data.flags.writeable = False
    return Templates(data=data, affine=np.asarray(gm_img.affine, dtype=float))


@lru_cache(maxsize=8)
def templates(voxel_mm: tuple[float, float, float]) -> Templates:
    """Templates pre-blurred so that point sampling at `voxel_mm` approximates a voxel average.

    Why: sampling a 2 mm template at the centres of 6 mm voxels would alias; matching the variance of a
    box of width `voxel_mm` with a Gaussian gives realistic partial volumes at coarse native resolutions.
    """
    raw = _raw_templates()
    extra = np.asarray(voxel_mm, float) ** 2 - TEMPLATE_VOXEL_MM**2
    sigma_vox = np.sqrt(np.clip(extra, 0.0, None) / 12.0) / TEMPLATE_VOXEL_MM
    if not np.any(sigma_vox > 0.05):
        return raw
    data = np.stack([ndi.gaussian_filter(ch, sigma=sigma_vox, mode="constant") for ch in raw.data])
    data.flags.writeable = False
    return Templates(data=data, affine=raw.affine)


@dataclass(frozen=True)
class Rois:
    """Dosenbach-160 ROI centres (MNI mm) with their network index into `networks`."""

    centres: np.ndarray  # (160, 3)
    network: np.ndarray  # (160,) int
    networks: tuple[str, ...]

    def index(self, name: str) -> int:
        return self.networks.index(name)


@lru_cache(maxsize=1)
def dosenbach() -> Rois:
    from nilearn import datasets

    ds = datasets.fetch_coords_dosenbach_2010()
    rois = ds["rois"]
    centres = np.column_stack([rois["x"], rois["y"], rois["z"]]).astype(float)
    names = [str(n) for n in np.asarray(ds["networks"])]
    networks = tuple(sorted(set(names)))
    network = np.array([networks.index(n) for n in names], dtype=int)
    centres.flags.writeable = False
    network.flags.writeable = False
    return Rois(centres=centres, network=network, networks=networks)


@lru_cache(maxsize=1)
def small_64d_table() -> tuple[np.ndarray, np.ndarray]:
    """dipy's real 64-direction b≈1000 table: (bvals (64,), unit bvecs (64, 3)), b0 dropped."""
    from dipy.data import get_fnames
    from dipy.io import read_bvals_bvecs

    _, fbval, fbvec = get_fnames(name="small_64D")
    bvals, bvecs = read_bvals_bvecs(str(fbval), str(fbvec))
    keep = bvals > 50
    bvecs = bvecs[keep] / np.linalg.norm(bvecs[keep], axis=1, keepdims=True)
    return np.asarray(bvals[keep], float), np.asarray(bvecs, float)


def gaussian_sum(points: np.ndarray, centres: np.ndarray, sigma_mm: float) -> np.ndarray:
    """Σ_i exp(-|p - c_i|² / 2σ²) for points (..., 3): the smooth bumps every regional effect is made of."""
    out = np.zeros(points.shape[:-1], dtype=np.float32)
    for c in centres:
        d2 = np.sum((points - c.astype(np.float32)) ** 2, axis=-1)
        out += np.exp(-d2 / np.float32(2.0 * sigma_mm**2))
    return out
