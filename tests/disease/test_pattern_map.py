"""The disease-pattern map: ANOVA F equal to scipy's, high where groups differ, in [0, 1], bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.stats import f_oneway

from pds_mri.disease.pattern_map import anova_f, disease_pattern_map, load_maps, save_maps
from pds_mri.errors import InputError, PdsError


def _maps(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.repeat([0, 1, 2], 5)
    maps = rng.normal(size=(15, 8, 8, 6))
    maps[:, 2:4, 2:4, 2:4] += labels[:, None, None, None] * 1.5  # the disease region
    masks = np.ones_like(maps)
    return maps, masks, labels


def test_anova_f_equals_scipy() -> None:
    maps, masks, labels = _maps()
    f = anova_f(maps, labels, masks.all(axis=0) > 0)
    expected = f_oneway(*(maps[labels == g] for g in (0, 1, 2)), axis=0).statistic
    np.testing.assert_allclose(f, expected, rtol=1e-10)


def test_map_is_high_in_the_disease_region_and_scaled_to_unit_range() -> None:
    maps, masks, labels = _maps()
    m = disease_pattern_map(maps, masks, labels)
    assert m.dtype == np.float32 and m.min() >= 0 and m.max() <= 1
    region = np.zeros(m.shape, bool)
    region[2:4, 2:4, 2:4] = True
    assert m[region].mean() > 3 * m[~region].mean()
    assert m[6:, 6:, :].mean() < 0.25 * m[region].mean()  # far from the region, only noise F


def test_unknown_labels_are_ignored_and_too_few_groups_are_an_error() -> None:
    maps, masks, labels = _maps()
    with_unknown = labels.copy()
    with_unknown[:2] = -1
    assert np.isfinite(disease_pattern_map(maps, masks, with_unknown)).all()
    with pytest.raises(PdsError, match="2 diagnosis groups"):
        disease_pattern_map(maps, masks, np.zeros(15, dtype=int))


def test_outside_the_common_mask_the_map_is_zero() -> None:
    maps, masks, labels = _maps()
    masks[3, :, :, 0] = 0
    assert np.all(disease_pattern_map(maps, masks, labels)[:, :, 0] == 0)


def test_round_trip_and_corrupt_file(tmp_path: Path) -> None:
    maps, masks, labels = _maps()
    m = disease_pattern_map(maps, masks, labels)
    path = tmp_path / "disease_map.safetensors"
    save_maps(path, {"fmri2dmri": m}, ["sub-01", "sub-02"])
    loaded, fitted = load_maps(path)
    np.testing.assert_array_equal(loaded["fmri2dmri"], m)
    assert fitted == ("sub-01", "sub-02")
    path.write_bytes(b"garbage")
    with pytest.raises(InputError, match=r"disease_map\.safetensors"):
        load_maps(path)
