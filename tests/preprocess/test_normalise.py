"""Robust per-subject normalisation: exact inverse, JSON round trip, degenerate maps."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pds_mri.preprocess.normalise import Normalisation, fit_normalisation


def test_fit_uses_percentiles_inside_mask() -> None:
    x = np.arange(1000, dtype=float).reshape(10, 10, 10)
    mask = np.zeros(x.shape, bool)
    mask[:5] = True  # values 0..499
    x[~mask] = 1e6  # outside the mask: ignored
    norm = fit_normalisation(x, mask, (1.0, 99.0))
    assert norm.low == pytest.approx(np.percentile(np.arange(500), 1))
    assert norm.high == pytest.approx(np.percentile(np.arange(500), 99))
    y = norm.apply(x, mask)
    assert y.dtype == np.float32 and y.min() >= -1 and y.max() <= 1
    assert (y[~mask] == -1).all()


@settings(max_examples=30, deadline=None)
@given(
    low=st.floats(-1e4, 1e4),
    width=st.floats(1e-2, 1e4),
    u=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=20),
)
def test_invert_apply_is_identity_inside_range(low: float, width: float, u: list[float]) -> None:
    norm = Normalisation(low=low, high=low + width, percentiles=(0.5, 99.5))
    x = low + width * np.asarray(u)
    np.testing.assert_allclose(norm.invert(norm.apply(x)), x, rtol=1e-5, atol=1e-6 * (abs(low) + width))


def test_values_outside_range_are_clipped() -> None:
    norm = Normalisation(low=10.0, high=20.0, percentiles=(0.5, 99.5))
    np.testing.assert_array_equal(norm.apply(np.array([0.0, 10.0, 15.0, 20.0, 30.0])), [-1, -1, 0, 1, 1])


def test_json_round_trip() -> None:
    norm = Normalisation(low=-3.25, high=1234.5, percentiles=(0.5, 99.5))
    again = Normalisation.from_json(json.loads(json.dumps(norm.to_json())))
    assert again == norm
    with pytest.raises(ValueError, match="normalisation"):
        Normalisation.from_json({"low": 1.0})
    with pytest.raises(ValueError, match="low < high"):
        Normalisation.from_json({"low": 2.0, "high": 1.0, "percentiles": [0.5, 99.5]})


def test_constant_map_does_not_divide_by_zero() -> None:
    x = np.full((4, 4, 4), 5.0)
    norm = fit_normalisation(x, np.ones(x.shape, bool), (0.5, 99.5))
    assert (norm.low, norm.high) == (5.0, 6.0)
    y = norm.apply(x)
    assert np.isfinite(y).all() and (y == -1).all()
    np.testing.assert_allclose(norm.invert(y), x)


def test_empty_mask_is_an_error() -> None:
    with pytest.raises(ValueError, match="no finite voxel"):
        fit_normalisation(np.ones((2, 2, 2)), np.zeros((2, 2, 2), bool))
