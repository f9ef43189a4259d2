"""Calibration numbers on synthetic data whose answer is known (evaluation/calibration.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pds_mri.errors import PdsError
from pds_mri.evaluation.calibration import (
    CALIBRATION_COLUMNS,
    NOMINAL,
    binned_curve,
    calibration_metrics,
    coverage,
    edge_interior,
    empty_metrics,
    fit_scale,
    pooled,
    spearman,
    subject_voxels,
    unit_error_and_std,
)


def _ball(shape: tuple[int, int, int] = (24, 24, 24), radius: float = 10.0) -> np.ndarray:
    grid = np.indices(shape).astype(float)
    centre = (np.asarray(shape, float) - 1) / 2
    return ((grid - centre[:, None, None, None]) ** 2).sum(axis=0) <= radius**2


def test_nominal_coverage() -> None:
    assert NOMINAL[1] == pytest.approx(0.6827, abs=1e-4) and NOMINAL[2] == pytest.approx(0.9545, abs=1e-4)


def test_gaussian_errors_cover_their_nominal_share_and_independent_std_has_zero_rho() -> None:
    rng = np.random.default_rng(0)
    mask = _ball()
    std = rng.uniform(0.01, 0.1, mask.shape)
    error = np.abs(rng.normal(0.0, std))  # error ~ N(0, std²): calibrated, and |error| grows with std
    out = calibration_metrics(error, std, mask)
    assert out["coverage_1sd"] == pytest.approx(0.6827, abs=0.01)
    assert out["coverage_2sd"] == pytest.approx(0.9545, abs=0.005)
    assert out["coverage_2sd_interior"] == pytest.approx(0.9545, abs=0.01)
    assert out["uncertainty_spearman"] > 0.3
    # a std unrelated to the error: rank correlation ~0
    unrelated = rng.uniform(0.01, 0.1, mask.shape)
    assert abs(calibration_metrics(error, unrelated, mask)["uncertainty_spearman"]) < 0.05
    assert list(out) == list(CALIBRATION_COLUMNS)


def test_edge_and_interior_partition_the_mask_and_are_reported_apart() -> None:
    mask = _ball()
    edge, interior = edge_interior(mask)
    assert not (edge & interior).any() and ((edge | interior) == mask).all()
    assert edge.sum() > 0 and interior.sum() > 0
    # every edge voxel touches a non-mask voxel; no interior one does
    padded = np.pad(mask, 1)
    for x, y, z in np.argwhere(edge)[:50]:
        assert not padded[x : x + 3, y : y + 3, z : z + 3].all()
    # a mask touching the volume border: the border voxels are edge
    full = np.ones((5, 5, 5), bool)
    e, i = edge_interior(full)
    assert i.sum() == 27 and e.sum() == 125 - 27
    # correlation only at the edge: the edge shows it, the interior does not
    rng = np.random.default_rng(1)
    std = np.where(edge, 0.2, 0.02) * rng.uniform(0.5, 1.5, mask.shape)
    error = np.where(edge, 0.2, 0.02) * rng.uniform(0.0, 1.0, mask.shape)
    error[interior] = rng.uniform(0, 0.02, interior.sum())
    out = calibration_metrics(error, std, mask)
    assert out["uncertainty_spearman"] > 0.3 and abs(out["uncertainty_spearman_interior"]) < 0.1
    assert out["n_edge"] == edge.sum() and out["n_interior"] == interior.sum()


def test_undefined_values_are_nan() -> None:
    mask = np.zeros((4, 4, 4), bool)
    mask[1:3, 1:3, 1:3] = True  # all edge, no interior
    out = calibration_metrics(np.full(mask.shape, 0.1), np.full(mask.shape, 0.1), mask)
    assert math.isnan(out["uncertainty_spearman"])  # constant inputs
    assert math.isnan(out["coverage_1sd_interior"]) and out["n_interior"] == 0 and out["coverage_1sd"] == 1.0
    assert math.isnan(spearman(np.arange(2.0), np.arange(2.0)))
    assert math.isnan(coverage(np.zeros(0), np.zeros(0), 1))
    empty = empty_metrics()
    assert list(empty) == list(CALIBRATION_COLUMNS) and all(math.isnan(v) for v in empty.values())


def test_unit_scale_matches_the_metrics_protocol() -> None:
    error, std = unit_error_and_std(np.array([1.5, 0.0]), np.array([-1.0, 0.5]), np.array([0.4, 0.2]))
    assert error.tolist() == [1.0, 0.25] and std.tolist() == [0.2, 0.1]


def test_fit_scale_brings_2sd_coverage_to_nominal() -> None:
    rng = np.random.default_rng(2)
    std = rng.uniform(0.01, 0.1, 50_000)
    error = np.abs(rng.standard_t(4, std.size) * std * 3.0)  # heavy-tailed and three times the predicted std
    assert coverage(error, std, 2) < 0.7
    s = fit_scale(error, std)
    assert coverage(error, s * std, 2) == pytest.approx(NOMINAL[2], abs=1e-3)
    # Gaussian errors at the right size need no rescaling
    gaussian = np.abs(rng.normal(0.0, std))
    assert fit_scale(gaussian, std) == pytest.approx(1.0, abs=0.03)


def test_fit_scale_refuses_a_zero_std() -> None:
    with pytest.raises(PdsError, match="std is 0"):
        fit_scale(np.full(100, 0.1), np.zeros(100))
    with pytest.raises(PdsError, match="no voxels"):
        fit_scale(np.zeros(0), np.zeros(0))
    with pytest.raises(PdsError, match="error is 0"):
        fit_scale(np.zeros(100), np.full(100, 0.1))


def test_binned_curve_and_pooled_numbers() -> None:
    rng = np.random.default_rng(3)
    std = rng.uniform(0.01, 0.1, 20_000)
    error = np.abs(rng.normal(0.0, std))
    curve = binned_curve(error, std, bins=5)
    assert len(curve) == 5 and sum(b["n"] for b in curve) == std.size
    assert [b["rms_std"] for b in curve] == sorted(b["rms_std"] for b in curve)
    for b in curve:  # calibrated: RMS error ≈ RMS std in every bin
        assert b["rms_error"] == pytest.approx(b["rms_std"], rel=0.06)
    mask = _ball((12, 12, 12), 5)
    e3, s3 = np.abs(rng.normal(0, 0.05, mask.shape)), np.full(mask.shape, 0.05)
    result = pooled([subject_voxels(e3, s3, mask), subject_voxels(e3, s3, mask)])
    assert result["subjects"] == 2 and result["brain"]["voxels"] == 2 * mask.sum()
    assert result["brain"]["coverage_1sd"] == pytest.approx(coverage(e3[mask], s3[mask], 1))
    assert result["brain"]["spearman"] is None  # constant std
