"""DWI physics: a standard tensor fit (dipy) recovers the simulated FA and fibre directions."""

from __future__ import annotations

import numpy as np
import pytest
from dipy.core.gradients import gradient_table as dipy_table
from dipy.reconst.dti import TensorModel

from pds_mri.errors import PdsError
from pds_mri.simulate.cohort import SubjectPlan, simulate_subject
from pds_mri.simulate.dwi import gradient_table


def _fit(run):
    g = run.gradients
    gtab = dipy_table(g.bvals, bvecs=g.bvecs, b0_threshold=50)
    mask = run.anatomy.brain > 0.5
    return TensorModel(gtab).fit(run.data.astype(np.float64), mask=mask)


def test_gradient_table_layout() -> None:
    t = gradient_table(32, 2)
    assert t.bvals.shape == (34,) and t.bvecs.shape == (34, 3)
    b0 = t.bvals == 0
    assert b0.sum() == 2 and b0[0]
    np.testing.assert_array_equal(t.bvecs[b0], 0)
    np.testing.assert_allclose(np.linalg.norm(t.bvecs[~b0], axis=1), 1, atol=1e-6)
    assert np.all(np.abs(t.bvals[~b0] - 1000) < 20)
    # Well spread: no two chosen directions within 10 degrees (antipodes count as the same).
    dots = np.abs(t.bvecs[~b0] @ t.bvecs[~b0].T) - np.eye(32)
    assert dots.max() < np.cos(np.deg2rad(10))
    np.testing.assert_array_equal(gradient_table(32, 2).bvecs, t.bvecs)


@pytest.mark.parametrize(("n_dir", "n_b0"), [(5, 1), (65, 1), (30, 0)])
def test_gradient_table_rejects_impossible(n_dir: int, n_b0: int) -> None:
    with pytest.raises(PdsError):
        gradient_table(n_dir, n_b0)


def test_tensor_fit_recovers_simulated_fa_and_direction(cpu_config) -> None:
    plan = SubjectPlan(0, "sub-001", "NC", 0.0, 70, "F")
    run = simulate_subject(cpu_config, 5, plan, with_fmri=False).dwi
    fit = _fit(run)
    wm = (run.anatomy.wm > 0.5) & (run.anatomy.brain > 0.9)
    assert wm.sum() > 1000
    fa_err = np.abs(fit.fa[wm] - run.fa[wm])
    assert np.median(fa_err) < 0.1
    assert 0.45 < np.median(run.fa[run.anatomy.wm > 0.9]) < 0.75
    # bvecs are voxel-frame (LAS): map the fitted eigenvector to world axes before comparing.
    rot = run.affine[:3, :3] / np.linalg.norm(run.affine[:3, :3], axis=0)
    v_world = fit.evecs[..., :, 0] @ rot.T
    strong = wm & (run.fa > 0.5)
    cos = np.abs(np.sum(v_world[strong] * run.v1[strong], axis=-1))
    assert np.median(cos) > 0.95
    csf = run.anatomy.csf > 0.9
    assert abs(np.median(fit.md[csf]) - 3e-3) < 0.4e-3
