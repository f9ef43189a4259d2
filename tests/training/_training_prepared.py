"""A tiny prepared directory written by hand in the `pds prepare` layout (two grids in MNI space)."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

from pds_mri.config import Grid
from pds_mri.io import layout
from pds_mri.io.atomic import save_nifti, write_tsv

# Two different grids in MNI space, as in the paper; the dMRI field of view is larger on every axis,
# so its border lies outside the fMRI grid (filled with -1 after resampling).
GRIDS = {
    "fmri": Grid(shape=(8, 8, 6), voxel_mm=(18.0, 22.0, 24.0)),
    "dmri": Grid(shape=(12, 12, 8), voxel_mm=(15.0, 15.0, 20.0)),
}
SUBJECTS = [
    # id, diagnosis, has fmri, has dmri
    ("sub-01", "NC", True, True),
    ("sub-02", "AD", True, True),
    ("sub-03", "MCI", True, False),
    ("sub-04", "n/a", False, True),
]


def world_coords(grid: Grid) -> np.ndarray:
    ijk = np.stack(np.meshgrid(*[np.arange(s) for s in grid.shape], indexing="ij"), axis=-1).astype(float)
    return ijk @ grid.affine[:3, :3].T + grid.affine[:3, 3]


def linear_map(grid: Grid, scale: float) -> np.ndarray:
    """A map linear in world x/y/z (so trilinear resampling reproduces it exactly inside the FOV)."""
    xyz = world_coords(grid)
    return (scale * (xyz[..., 0] / 200.0 + xyz[..., 1] / 400.0 - xyz[..., 2] / 300.0)).astype(np.float32)


def write_prepared(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for modality, grid in GRIDS.items():
        labels = rng.integers(0, 161, size=grid.shape).astype(np.int16)
        save_nifti(nib.Nifti1Image(labels, grid.affine), root / layout.pattern_atlas(modality))
    rows = []
    for i, (sub, dx, has_f, has_d) in enumerate(SUBJECTS):
        row = {"participant_id": sub, "diagnosis": dx, "age": 70 + i, "sex": "F", "tissue_source": "prior"}
        for modality, grid in GRIDS.items():
            aff = grid.affine
            mask = np.zeros(grid.shape, np.uint8)
            mask[1:-1, 1:-1, 1:-1] = 1
            save_nifti(nib.Nifti1Image(mask, aff), root / layout.grid_mask(sub, modality))
            tissue = rng.random((*grid.shape, 3)).astype(np.float32)
            save_nifti(nib.Nifti1Image(tissue, aff), root / layout.grid_tissue(sub, modality))
            row[f"{modality}_mask"] = layout.grid_mask(sub, modality)
            row[f"{modality}_tissue"] = layout.grid_tissue(sub, modality)
            present = has_f if modality == "fmri" else has_d
            if present:
                data = linear_map(grid, 1.0 + 0.1 * i)
                save_nifti(nib.Nifti1Image(data, aff), root / layout.grid_map(sub, modality, "mean"))
                row[modality] = layout.grid_map(sub, modality, "mean")
                row[f"{modality}_native"] = layout.native_map(sub, modality, "mean")
        rows.append(row)
    write_tsv(root / "cohort.tsv", rows, layout.COHORT_COLUMNS)
    return root
