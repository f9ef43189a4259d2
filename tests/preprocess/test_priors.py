"""MNI tissue priors, T1w segmentation and Dosenbach-160 pattern ROIs."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from nibabel.affines import rescale_affine
from nilearn import datasets

from pds_mri.config import Grid, preset
from pds_mri.errors import InputError
from pds_mri.preprocess.priors import (
    mni_tissue_priors,
    pattern_labels,
    pattern_table,
    segment_t1w,
    tissue_on_grid,
)
from pds_mri.preprocess.resample import resample_to, to_grid
from pds_mri.preprocess.templates import dosenbach

GRID = preset("cpu").grids.fmri


@pytest.fixture(scope="module")
def t1w_4mm() -> nib.Nifti1Image:
    """nilearn's MNI152 T1 template downsampled to 4 mm, so the segmentation test stays fast."""
    t1 = datasets.load_mni152_template(resolution=2)
    shape = tuple(s // 2 for s in t1.shape)
    return resample_to(t1, rescale_affine(t1.affine, t1.shape, (4, 4, 4), shape), shape)


def test_priors_are_probabilities() -> None:
    priors = mni_tissue_priors(GRID)
    assert priors.shape == (3, *GRID.shape) and priors.dtype == np.float32
    assert priors.min() >= 0 and priors.max() <= 1
    assert priors.sum(axis=0).max() <= 1 + 1e-6
    priors[0] = -1  # callers get a copy: the cache is not corrupted
    assert mni_tissue_priors(GRID).min() >= 0


def test_gm_prior_follows_the_template() -> None:
    gm = mni_tissue_priors(GRID)[0]
    template = to_grid(datasets.load_mni152_gm_template(resolution=2), GRID, "linear").get_fdata()
    assert np.corrcoef(gm.ravel(), template.ravel())[0, 1] > 0.95
    assert gm[template > 0.5].mean() > 4 * gm[template < 0.1].mean()


def test_segmentation_of_mni_t1_matches_gm_template(t1w_4mm: nib.Nifti1Image) -> None:
    seg = segment_t1w(t1w_4mm)
    assert seg.shape == (*t1w_4mm.shape, 3) and seg.get_data_dtype() == np.float32
    np.testing.assert_array_equal(seg.affine, t1w_4mm.affine)
    prob = seg.get_fdata()
    total = prob.sum(axis=-1)
    assert prob.min() >= 0 and np.allclose(total[total > 0], 1.0, atol=1e-5)
    ref = {
        "gm": datasets.load_mni152_gm_template(resolution=2),
        "wm": datasets.load_mni152_wm_template(resolution=2),
    }
    for channel, name in enumerate(ref):
        template = resample_to(ref[name], t1w_4mm.affine, t1w_4mm.shape, "linear").get_fdata()
        assert np.corrcoef(prob[..., channel].ravel(), template.ravel())[0, 1] > 0.5, name
    np.testing.assert_array_equal(prob, segment_t1w(t1w_4mm).get_fdata())  # deterministic
    on_grid = tissue_on_grid(seg, GRID)
    assert on_grid.shape == (3, *GRID.shape)
    assert on_grid.min() >= 0 and on_grid.sum(axis=0).max() <= 1 + 1e-6


@pytest.mark.skipif("fork" not in mp.get_all_start_methods(), reason="needs fork")
def test_segmentation_in_a_forked_worker_does_not_deadlock(t1w_4mm: nib.Nifti1Image) -> None:
    """`prepare --jobs N` forks after the parent segmented: OpenMP (k-means init) would hang the child."""
    segment_t1w(t1w_4mm)
    child = mp.get_context("fork").Process(target=segment_t1w, args=(t1w_4mm,))
    child.start()
    child.join(60)
    if child.is_alive():
        child.kill()
        child.join()
        pytest.fail("segment_t1w hung in a forked worker")
    assert child.exitcode == 0


def test_segmentation_refuses_a_t1w_outside_mni(t1w_4mm: nib.Nifti1Image) -> None:
    far = t1w_4mm.affine.copy()
    far[:3, 3] += 1000.0
    with pytest.raises(InputError, match="MNI"):
        segment_t1w(nib.Nifti1Image(t1w_4mm.get_fdata(), far))


def test_every_roi_is_labelled_on_the_cpu_grid() -> None:
    labels = pattern_labels(GRID)
    assert labels.dtype == np.int16 and labels.shape == GRID.shape
    np.testing.assert_array_equal(np.unique(labels), np.arange(161))
    assert (pattern_labels(GRID, radius_mm=0.0) > 0).sum() == 160  # one nearest voxel each


def test_labels_are_spheres_with_nearest_centre_winning() -> None:
    grid = Grid(shape=(27, 32, 27), voxel_mm=(6.0, 6.0, 6.0))
    labels = pattern_labels(grid, radius_mm=9.0)
    centres = dosenbach().centres
    ijk = np.argwhere(labels > 0)
    world = nib.affines.apply_affine(grid.affine, ijk)
    dist = np.linalg.norm(world[:, None, :] - centres[None], axis=-1)
    got = labels[tuple(ijk.T)] - 1
    assert (dist[np.arange(len(got)), got] <= 9.0).all()
    np.testing.assert_allclose(dist[np.arange(len(got)), got], dist.min(axis=1))
    background = np.argwhere(labels == 0)
    bg_dist = np.linalg.norm(nib.affines.apply_affine(grid.affine, background)[:, None] - centres[None], axis=-1)
    assert (bg_dist.min(axis=1) > 9.0).all()


def test_pattern_table() -> None:
    table = pattern_table()
    assert [row["label"] for row in table] == list(range(1, 161))
    assert {"label", "x", "y", "z", "network", "name"} == set(table[0])
    assert {"default", "cerebellum"} <= {row["network"] for row in table}
    np.testing.assert_allclose([[r["x"], r["y"], r["z"]] for r in table], dosenbach().centres)


def test_segmentation_does_not_depend_on_the_blas_thread_count(sim_bids: Path) -> None:
    """Regression: `pds prepare --nprocs 2` workers run with fewer BLAS threads than one process, and the
    GMM's rounding followed the thread count, so tissue maps differed between --nprocs 1 and 2."""
    from threadpoolctl import threadpool_limits

    for path in sorted(sim_bids.glob("sub-*/anat/*_T1w.nii.gz"))[:3]:
        outs = []
        for threads in (1, 2):
            with threadpool_limits(threads):
                outs.append(np.asarray(segment_t1w(nib.load(path)).dataobj))
        assert np.array_equal(outs[0], outs[1]), path.name
