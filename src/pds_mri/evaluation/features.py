"""Diagnosis features from maps on a modality's model grid (real prepared maps and syntheses alike).

The feature space of a modality is fixed before any fold is fitted and depends on no diagnosis: the voxels
inside the intersection of the given subjects' brain masks on that grid (MNI space), or, for regional features,
the Dosenbach-160 ROIs (prepared atlas) restricted to that mask, one mean value per ROI that has voxels there.
Real and synthetic maps of a modality go through the same FeatureSpace, so they share one feature layout.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pds_mri.errors import InputError, PdsError
from pds_mri.io.layout import find_pattern_atlas
from pds_mri.io.nifti import load_nifti

KINDS = ("voxels", "regions")


def read_grid_map(path: Path, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """A 3D float32 volume; errors name the file (missing, unreadable, NaN/Inf, wrong shape)."""
    if not path.is_file():
        raise InputError(path, "file not found")
    try:
        data = np.asarray(load_nifti(str(path)).dataobj, dtype=np.float32)
    except Exception as exc:  # nibabel raises many types for corrupt files
        raise InputError(path, f"cannot read NIfTI ({exc.__class__.__name__}: {exc})") from None
    if data.ndim != 3:
        raise InputError(path, f"expected a 3D volume, got shape {data.shape}")
    if shape is not None and tuple(data.shape) != tuple(shape):
        raise InputError(path, f"shape {tuple(data.shape)} does not match the model grid {tuple(shape)}")
    if not np.isfinite(data).all():
        raise InputError(path, "contains NaN or Inf values")
    return data


@dataclass
class FeatureSpace:
    modality: str
    kind: str
    mask: np.ndarray  # bool, grid shape
    labels: np.ndarray | None = None  # int ROI label per in-mask voxel (regions only)
    rois: np.ndarray | None = None  # the ROI labels kept, in feature order (regions only)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.mask.shape)

    @property
    def width(self) -> int:
        return int(self.mask.sum()) if self.kind == "voxels" else len(self.rois)  # type: ignore[arg-type]

    def extract(self, data: np.ndarray) -> np.ndarray:
        inside = np.asarray(data, dtype=np.float64)[self.mask]
        if self.kind == "voxels":
            return inside.astype(np.float32)
        assert self.labels is not None and self.rois is not None
        sums = np.bincount(self.labels, weights=inside, minlength=int(self.rois.max()) + 1)
        counts = np.bincount(self.labels, minlength=int(self.rois.max()) + 1)
        return (sums[self.rois] / counts[self.rois]).astype(np.float32)

    def describe(self) -> dict:
        out = {"modality": self.modality, "kind": self.kind, "grid_shape": list(self.shape), "width": self.width}
        out["mask_voxels"] = int(self.mask.sum())
        return out


def build_feature_space(prepared_dir: Path, mask_paths: Sequence[Path], modality: str, kind: str) -> FeatureSpace:
    """Voxels (or ROIs) inside the intersection of the masks `mask_paths` (all on `modality`'s grid)."""
    if kind not in KINDS:
        raise PdsError(f"feature kind {kind}: choose one of {KINDS}")
    if not mask_paths:
        raise PdsError(f"no {modality} brain mask to build the feature space from")
    mask: np.ndarray | None = None
    for path in mask_paths:
        m = read_grid_map(Path(path), None if mask is None else mask.shape) > 0.5
        mask = m if mask is None else mask & m
    assert mask is not None
    if kind == "regions":
        atlas_path = find_pattern_atlas(prepared_dir, modality)  # type: ignore[arg-type]
        atlas = np.rint(read_grid_map(atlas_path, mask.shape)).astype(np.int64)
        if atlas.min() < 0:
            raise InputError(atlas_path, "negative ROI label")
        mask = mask & (atlas > 0)
        labels = atlas[mask]
        rois = np.unique(labels)
        if not len(rois):
            raise InputError(atlas_path, f"no pattern ROI inside the {modality} brain-mask intersection")
        return FeatureSpace(modality, kind, mask, labels, rois)
    if not mask.any():
        raise PdsError(f"the intersection of the {modality} brain masks is empty")
    return FeatureSpace(modality, kind, mask)
