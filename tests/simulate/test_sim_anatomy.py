"""Anatomy: valid tissue probabilities, reproducible draws, atrophy that grows with severity."""

from __future__ import annotations

import numpy as np
import pytest

from pds_mri.simulate.anatomy import make_anatomy
from pds_mri.simulate.grids import native_affine
from pds_mri.simulate.priors import HIPPOCAMPUS_CENTRES_MM, VENTRICLE_CENTRES_MM, gaussian_sum

SHAPE = (48, 58, 48)
VOX = (4.0, 4.0, 4.0)


def _sample(seed: int, severity: float):
    anat = make_anatomy(np.random.default_rng(seed), severity, age=70)
    affine = native_affine(SHAPE, VOX, np.random.default_rng(0), jitter_mm=0.0)
    return anat.sample(affine, SHAPE)


def test_tissue_is_a_probability_partition() -> None:
    smp = _sample(1, 0.5)
    tissue = smp.tissue
    assert tissue.shape == (3, *SHAPE)
    assert tissue.min() >= 0 and tissue.max() <= 1 + 1e-5
    assert (tissue.sum(0) <= smp.brain + 1e-4).all()
    brain_ml = smp.brain.sum() * np.prod(VOX) / 1000
    assert 1400 < brain_ml < 2400  # the nilearn MNI mask is ~1.9 l
    gm_ml, wm_ml = smp.gm.sum() * 64 / 1000, smp.wm.sum() * 64 / 1000
    assert gm_ml > wm_ml > 400


def test_same_rng_same_anatomy_different_rng_different() -> None:
    a, b, c = _sample(3, 0.0), _sample(3, 0.0), _sample(4, 0.0)
    np.testing.assert_array_equal(a.gm, b.gm)
    assert np.abs(a.gm - c.gm).mean() > 0.01


def test_atrophy_grows_with_severity() -> None:
    smp = {s: _sample(7, s) for s in (0.0, 0.5, 1.0)}
    hippo = gaussian_sum(smp[0.0].template, HIPPOCAMPUS_CENTRES_MM, 7.0) > 0.5
    vent = gaussian_sum(smp[0.0].world, VENTRICLE_CENTRES_MM[:8], 10.0) > 0.3  # lateral ventricles region
    hippo_gm = [smp[s].gm[hippo].mean() for s in (0.0, 0.5, 1.0)]
    vent_csf = [smp[s].csf[vent].sum() for s in (0.0, 0.5, 1.0)]
    assert hippo_gm[0] > hippo_gm[1] > hippo_gm[2]
    assert hippo_gm[2] < 0.75 * hippo_gm[0]
    assert vent_csf[0] < vent_csf[1] < vent_csf[2]
    assert vent_csf[2] > 1.3 * vent_csf[0]


def test_negative_severity_rejected() -> None:
    with pytest.raises(ValueError, match="severity"):
        make_anatomy(np.random.default_rng(0), -0.1)
