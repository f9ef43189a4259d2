"""One simulated subject's anatomy, defined in MNI world space and sampled on any grid.

Model (a test bed, not a claim about brains):
- tissue = the MNI152 2009 GM/WM templates (CSF = brain mask − GM − WM), pulled back through a
  subject-specific transform world → template: an isotropic head-size scale (±3 %), a smooth random
  displacement field (Gaussian-filtered noise, a few mm RMS), and a radial expansion around the
  ventricles that enlarges them with disease severity and age;
- atrophy: grey matter turned into CSF around the hippocampi/entorhinal cortex (strongest), the lateral
  temporal and posterior cingulate cortex (milder) and everywhere (a little, with age), scaled by the
  severity (NC 0, MCI ≈ 0.5, AD ≈ 1, with subject jitter).
All modalities of a subject sample the same `SubjectAnatomy`, so they share anatomy and disease state;
`template` coordinates of each voxel let other modules place MNI-defined effects (ROIs, tracts) on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from pds_mri.simulate.grids import world_coords
from pds_mri.simulate.priors import (
    BRAIN_CENTRE_MM,
    HIPPOCAMPUS_CENTRES_MM,
    HIPPOCAMPUS_SIGMA_MM,
    TEMPORAL_CENTRES_MM,
    TEMPORAL_SIGMA_MM,
    VENTRICLE_CENTRES_MM,
    VENTRICLE_SIGMA_MM,
    gaussian_sum,
    templates,
)

# Coarse grid on which the smooth displacement field lives (covers every native field of view).
_FIELD_SPACING_MM = 8.0
_FIELD_ORIGIN_MM = np.array([-112.0, -152.0, -104.0])
_FIELD_SHAPE = (29, 34, 30)


@dataclass(frozen=True)
class AnatomySample:
    """Tissue probabilities on one grid, with the world and template (MNI) position of every voxel."""

    gm: np.ndarray
    wm: np.ndarray
    csf: np.ndarray
    brain: np.ndarray
    world: np.ndarray  # (*shape, 3) mm
    template: np.ndarray  # (*shape, 3) mm in MNI152: where MNI-defined priors apply to this voxel

    @property
    def tissue(self) -> np.ndarray:
        """(3, *shape) GM, WM, CSF."""
        return np.stack([self.gm, self.wm, self.csf])


@dataclass(frozen=True)
class SubjectAnatomy:
    severity: float
    scale: float
    displacement: np.ndarray  # (3, *_FIELD_SHAPE) mm, on the coarse field grid
    ventricle_expansion: float  # fractional radial expansion at the ventricle centres
    hippocampal_loss: float  # peak fraction of GM lost at the hippocampi
    temporal_loss: float  # peak fraction of GM lost in temporal/posterior cingulate cortex
    global_gm_loss: float  # fraction of GM lost everywhere

    def to_template(self, world: np.ndarray) -> np.ndarray:
        """Map world points (..., 3) of this subject to the MNI template points they show."""
        world = np.asarray(world, np.float32)
        centre = BRAIN_CENTRE_MM.astype(np.float32)
        idx = (world - _FIELD_ORIGIN_MM.astype(np.float32)) / np.float32(_FIELD_SPACING_MM)
        coords = np.moveaxis(idx, -1, 0).reshape(3, -1)
        disp = np.stack(
            [ndi.map_coordinates(d, coords, order=1, mode="nearest") for d in self.displacement], axis=-1
        ).reshape(world.shape)
        y = centre + (world - centre) / np.float32(self.scale) + disp
        if self.ventricle_expansion > 0:
            # Pulling template points towards the ventricle axis makes the ventricles look larger.
            pull = np.zeros_like(y)
            weight = np.zeros(y.shape[:-1], np.float32)
            for c in VENTRICLE_CENTRES_MM.astype(np.float32):
                w = np.exp(-np.sum((y - c) ** 2, axis=-1) / np.float32(2 * VENTRICLE_SIGMA_MM**2))
                pull += w[..., None] * (y - c)
                weight += w
            y = y - np.float32(self.ventricle_expansion) * pull / np.maximum(weight, 1.0)[..., None]
        return y

    def sample(
        self, affine: np.ndarray, shape: Sequence[int], voxel_mm: Sequence[float] | None = None
    ) -> AnatomySample:
        """GM/WM/CSF/brain probabilities of this subject on the grid (affine, shape)."""
        shape = tuple(int(s) for s in shape[:3])
        if voxel_mm is None:
            voxel_mm = np.sqrt((np.asarray(affine)[:3, :3] ** 2).sum(axis=0))
        tpl = templates(tuple(round(float(v), 4) for v in voxel_mm))
        world = world_coords(affine, shape)
        template = self.to_template(world)
        inv = tpl.inverse.astype(np.float32)
        idx = template @ inv[:3, :3].T + inv[:3, 3]
        coords = np.moveaxis(idx, -1, 0).reshape(3, -1)
        gm, wm, csf, brain = (
            ndi.map_coordinates(ch, coords, order=1, mode="constant", cval=0.0).reshape(shape) for ch in tpl.data
        )
        keep = np.float32(1.0 - self.global_gm_loss)
        keep = keep * (
            1.0
            - np.float32(self.hippocampal_loss)
            * np.minimum(gaussian_sum(template, HIPPOCAMPUS_CENTRES_MM, HIPPOCAMPUS_SIGMA_MM), 1.0)
        )
        keep = keep * (
            1.0
            - np.float32(self.temporal_loss)
            * np.minimum(gaussian_sum(template, TEMPORAL_CENTRES_MM, TEMPORAL_SIGMA_MM), 1.0)
        )
        lost = gm * (1.0 - keep)
        return AnatomySample(
            gm=(gm - lost).astype(np.float32),
            wm=wm.astype(np.float32),
            csf=(csf + lost).astype(np.float32),
            brain=brain.astype(np.float32),
            world=world,
            template=template,
        )


def make_anatomy(rng: np.random.Generator, severity: float, age: float = 70.0) -> SubjectAnatomy:
    """Draw one subject's anatomy; `severity` 0 (NC) … 1 (AD) scales the atrophy, `age` (years) adds a bit."""
    if not np.isfinite(severity) or severity < 0:
        raise ValueError(f"severity must be a finite number >= 0, got {severity}")
    aged = (float(age) - 70.0) / 10.0  # decades from 70
    scale = float(np.clip(1.0 + rng.normal(0.0, 0.03), 0.9, 1.1))
    noise = rng.standard_normal((3, *_FIELD_SHAPE))
    field = np.stack([ndi.gaussian_filter(c, sigma=2.0, mode="nearest") for c in noise])
    rms = float(np.sqrt(np.mean(np.sum(field**2, axis=0))))
    field *= rng.uniform(3.0, 6.0) / max(rms, 1e-9)
    jitter = rng.normal(0.0, 1.0, 4)
    return SubjectAnatomy(
        severity=float(severity),
        scale=scale,
        displacement=field.astype(np.float32),
        ventricle_expansion=float(np.clip(0.05 + 0.18 * severity + 0.03 * aged + 0.04 * jitter[0], 0, 0.4)),
        hippocampal_loss=float(np.clip(0.45 * severity * (1 + 0.15 * jitter[1]) + 0.03 * aged, 0, 0.7)),
        temporal_loss=float(np.clip(0.2 * severity * (1 + 0.15 * jitter[2]), 0, 0.4)),
        global_gm_loss=float(np.clip(0.02 + 0.02 * aged + 0.03 * severity + 0.005 * jitter[3], 0, 0.1)),
    )
