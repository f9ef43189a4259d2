"""Group differences: a kept, erased and exaggerated disease signal give ratios 1, 0 and 2; regions are real."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pds_mri.evaluation.group_difference import contrast, group_differences, json_safe, regional_means


def _rows(scale: float, offset: float = 0.0) -> list[dict]:
    rng = np.random.default_rng(0)
    rows = []
    for i, dx in enumerate(["NC"] * 6 + ["MCI"] * 6 + ["AD"] * 6):
        effect = {"NC": 0.0, "MCI": -0.02, "AD": -0.05}[dx]
        real = 0.5 + effect + rng.normal(0, 0.01)
        rows.append(
            {
                "participant_id": f"sub-{i:02d}",
                "diagnosis": dx,
                "direction": "fmri2dmri",
                "region_means_real": {"brain": real},
                "region_means_synth": {"brain": 0.5 + offset + scale * (real - 0.5)},
            }
        )
    return rows


@pytest.mark.parametrize(("scale", "expected"), [(1.0, 1.0), (0.0, 0.0), (2.0, 2.0)])
def test_ratio_is_how_much_of_the_real_difference_the_synthesis_keeps(scale: float, expected: float) -> None:
    out = {r["contrast"]: r for r in group_differences(_rows(scale, offset=0.03))}
    assert set(out) == {"AD-NC", "MCI-NC"}
    ad = out["AD-NC"]
    assert ad["n_case"] == ad["n_control"] == 6
    assert ad["real_difference"] == pytest.approx(-0.05, abs=0.015)
    assert ad["ratio"] == pytest.approx(expected, abs=1e-9)  # a constant offset does not change a difference
    low, high = ad["ratio_ci"]
    assert low <= expected + 1e-9 and high >= expected - 1e-9
    assert ad["real_cohens_d"] < -1  # a clear effect in the real maps


def test_groups_too_small_are_left_out_and_nan_is_json_safe() -> None:
    real = {"a": 0.5, "b": 0.4, "c": 0.3}
    groups = {"a": "AD", "b": "NC", "c": "NC"}
    assert contrast(real, real, groups, "AD", "NC", seed=0) is None  # one AD subject
    assert json_safe({"x": float("nan"), "y": [float("inf"), 1.0]}) == {"x": None, "y": [None, 1.0]}


def test_a_group_of_one_participant_is_left_out_however_many_sessions_it_has() -> None:
    """Two sessions of one AD participant are one participant: the participant bootstrap would draw the same
    AD mean every time and give a CI without the AD group's variation."""
    real = {"sub-01_ses-1": 0.40, "sub-01_ses-2": 0.42, "sub-02": 0.5, "sub-03": 0.52, "sub-04": 0.49}
    groups = {k: "AD" if k.startswith("sub-01") else "NC" for k in real}
    assert contrast(real, real, groups, "AD", "NC", seed=0) is None
    real |= {"sub-05_ses-1": 0.38, "sub-05_ses-2": 0.39}
    groups |= {"sub-05_ses-1": "AD", "sub-05_ses-2": "AD"}
    out = contrast(real, real, groups, "AD", "NC", seed=0)
    assert out is not None
    assert (out["n_case"], out["n_case_participants"], out["n_control"], out["n_control_participants"]) == (4, 2, 3, 3)


def test_converters_are_drawn_once_for_both_groups() -> None:
    """Six participants, each an NC then an AD visit 0.05 lower, people far apart (sd 0.1): every participant
    resample keeps the within-person difference, so the CI is -0.05 exactly; resampling the two groups apart
    would mix people and give a CI as wide as their spread."""
    rng = np.random.default_rng(3)
    base = 0.5 + 0.1 * rng.standard_normal(6)
    real = {f"sub-{i}_ses-1": float(b) for i, b in enumerate(base)} | {
        f"sub-{i}_ses-2": float(b) - 0.05 for i, b in enumerate(base)
    }
    groups = {k: "NC" if k.endswith("ses-1") else "AD" for k in real}
    out = contrast(real, real, groups, "AD", "NC", seed=0)
    assert out is not None and out["n_case_participants"] == out["n_control_participants"] == 6
    low, high = out["real_difference_ci"]
    assert low == pytest.approx(-0.05, abs=1e-9) and high == pytest.approx(-0.05, abs=1e-9)


def test_regional_means_use_the_mask_tissue_and_networks() -> None:
    shape = (6, 6, 4)
    mask = torch.zeros(1, *shape)
    mask[0, 1:5, 1:5, :] = 1
    tissue = torch.zeros(3, *shape)
    tissue[0, :3] = 0.9  # GM in the first half
    tissue[1, 3:] = 0.9  # WM in the second
    pattern = torch.zeros(*shape, dtype=torch.long)
    pattern[1:3, 1:3, :] = 1  # ROI 1 -> network 0 (default)
    image = torch.full((1, *shape), -1.0)
    image[0, :3] = 1.0  # GM voxels bright: 1 on the [0, 1] scale; the rest 0
    item = {"mask": mask, "tissue": tissue, "pattern": pattern}
    means = regional_means(image, item, roi_network=[0] * 160)
    assert means["gm"] == pytest.approx(1.0) and means["wm"] == pytest.approx(0.0)
    assert means["brain"] == pytest.approx(0.5)
    assert means["net-default"] == pytest.approx(1.0)
    assert np.isnan(means["net-occipital"])  # no ROI of that network


def test_mean_difference_map_is_case_mean_minus_control_mean() -> None:
    import numpy as np

    from pds_mri.evaluation.group_difference import mean_difference_map

    rng = np.random.default_rng(0)
    volumes = [rng.normal(size=(3, 4, 2)) for _ in range(5)]
    groups = ["AD", "NC", "AD", "NC", "MCI"]
    expected = (volumes[0] + volumes[2]) / 2 - (volumes[1] + volumes[3]) / 2
    np.testing.assert_allclose(mean_difference_map(volumes, groups, "AD", "NC"), expected)
    with pytest.raises(ValueError, match="needs >= 2"):
        mean_difference_map(volumes, groups, "MCI", "NC")
