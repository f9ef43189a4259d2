"""Brain masks of simulated MNI-space maps on the CPU fMRI grid."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from pds_mri.config import preset
from pds_mri.preprocess.masks import brain_mask, mni_mask_on_grid
from pds_mri.preprocess.priors import mni_tissue_priors

GRID = preset("cpu").grids.fmri


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * float((a & b).sum()) / float(a.sum() + b.sum())


def _img(data: np.ndarray) -> nib.Nifti1Image:
    return nib.Nifti1Image(data.astype(np.float32), GRID.affine)


# tissue values (GM, WM, CSF) and background generator of each map kind of a simulated brain
CONTRASTS = {
    "mean_bold": ((900.0, 700.0, 1200.0), lambda r, s: np.abs(r.normal(0, 20, s))),
    "mean_dwi": ((300.0, 400.0, 100.0), lambda r, s: np.abs(r.normal(0, 15, s))),
    "fa": ((0.2, 0.6, 0.1), lambda r, s: r.uniform(0.0, 0.9, s)),  # noise-only tensors: random FA
    "md": ((0.8e-3, 0.7e-3, 3.0e-3), lambda r, s: np.abs(r.normal(0, 1e-5, s))),
    "alff": ((12.0, 6.0, 4.0), lambda r, s: np.abs(r.normal(0, 1.0, s))),
}


@pytest.mark.parametrize("kind", sorted(CONTRASTS))
def test_simulated_maps_give_the_brain(kind: str) -> None:
    rng = np.random.default_rng(0)
    priors = mni_tissue_priors(GRID)
    values, background = CONTRASTS[kind]
    brain = np.tensordot(np.asarray(values), priors, axes=1)
    weight = priors.sum(axis=0)
    data = brain + (1 - weight) * background(rng, GRID.shape)
    mask = brain_mask(_img(data), GRID)
    mni = mni_mask_on_grid(GRID)
    assert mask.dtype == bool and mask.shape == GRID.shape
    assert _dice(mask, mni) > 0.85, kind


def test_blob_in_mni_space() -> None:
    ijk = np.stack(np.meshgrid(*[np.arange(n) for n in GRID.shape], indexing="ij"), -1)
    world = nib.affines.apply_affine(GRID.affine, ijk)
    blob = np.linalg.norm(world - np.array([0.0, -18.0, 15.0]), axis=-1) < 45.0
    data = np.where(blob, 100.0, 0.0) + np.random.default_rng(1).uniform(0, 3, GRID.shape)
    mask = brain_mask(_img(data), GRID)
    mni = mni_mask_on_grid(GRID)
    assert _dice(mask, blob & mni) > 0.9
    assert not (mask & ~blob).any()


def test_map_without_contrast_falls_back_to_mni() -> None:
    mni = mni_mask_on_grid(GRID)
    np.testing.assert_array_equal(brain_mask(_img(np.zeros(GRID.shape)), GRID), mni)
    tiny = np.zeros(GRID.shape)
    tiny[16, 16, 9] = 1.0
    np.testing.assert_array_equal(brain_mask(_img(tiny), GRID), mni)


def test_wrong_grid_is_an_error() -> None:
    with pytest.raises(ValueError, match="grid shape"):
        brain_mask(_img(np.ones((4, 4, 4))), GRID)


def test_dice_coefficient_of_two_masks() -> None:
    from pds_mri.preprocess.masks import dice_coefficient

    a = np.zeros((4, 4, 4), bool)
    b = np.zeros((4, 4, 4), bool)
    assert dice_coefficient(a, b) is None
    a[:2], b[1:3] = True, True  # 32 voxels each, 16 shared
    assert dice_coefficient(a, b) == 0.5 and dice_coefficient(a, a) == 1.0
