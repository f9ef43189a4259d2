"""Region masks (pattern ROIs, tissue classes) and per-direction summaries of the evaluation."""

from __future__ import annotations

import math

import pytest
import torch

from pds_mri.evaluation.regions import METRIC_COLUMNS, protocol, region_masks, score, summarise


def _item(shape: tuple[int, int, int] = (12, 12, 12)) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    target = torch.nn.functional.avg_pool3d(torch.rand(1, 1, *shape, generator=g) * 2 - 1, 3, 1, 1)[0]
    mask = torch.zeros(1, *shape)
    mask[:, 1:-1, 1:-1, 1:-1] = 1
    tissue = torch.zeros(3, *shape)
    tissue[0, : shape[0] // 2] = 0.9  # GM in the first half
    tissue[1, shape[0] // 2 :] = 0.6  # WM in the second half...
    tissue[2, shape[0] // 2 :] = 0.4
    tissue[1, -3:] = tissue[2, -3:] = 0.45  # ...but no class above 0.5 in the last slabs
    pattern = torch.zeros(shape, dtype=torch.long)
    pattern[2:4, 2:4, 2:4] = 7
    return {"target": target, "mask": mask, "tissue": tissue, "pattern": pattern}


def test_regions_are_inside_the_mask_and_follow_argmax_and_threshold() -> None:
    item = _item()
    regions = region_masks(item["mask"], item["tissue"], item["pattern"])
    brain = regions["brain"]
    assert int(brain.sum()) == 10**3
    assert int(regions["pattern"].sum()) == 8
    assert regions["gm"][:6].sum() == brain[:6].sum() and not regions["gm"][6:].any()
    assert regions["wm"][6:9].sum() == brain[6:9].sum() and not regions["wm"][9:].any()
    assert not regions["csf"].any()
    for region in regions.values():
        assert not (region & ~brain).any()


def test_score_localises_errors_and_marks_empty_regions() -> None:
    item = _item()
    pred = item["target"].clone()
    pred[0, :6] += 0.2  # error only where GM is
    metrics = score(pred, item)
    assert metrics["wm_mae"] == pytest.approx(0.0) and math.isinf(metrics["wm_psnr"])
    assert metrics["gm_mae"] == pytest.approx(0.1, rel=1e-4)  # 0.2 on [-1, 1] is 0.1 on [0, 1]
    assert math.isnan(metrics["csf_mae"]) and metrics["n_csf"] == 0
    assert math.isnan(metrics["uncertainty_mean"])
    std = torch.full_like(pred, 0.4)
    assert score(pred, item, std)["uncertainty_mean"] == pytest.approx(0.2)
    assert set(METRIC_COLUMNS) <= set(metrics)


def test_summary_leaves_undefined_values_out() -> None:
    rows = [
        {"direction": "fmri2dmri", "psnr": 10.0, "mae": float("nan")},
        {"direction": "fmri2dmri", "psnr": 14.0, "mae": 0.2},
        {"direction": "dmri2fmri", "psnr": 20.0, "mae": 0.1},
    ]
    out = summarise(rows, ["psnr", "mae"])
    assert out["fmri2dmri"]["psnr"] == {"mean": 12.0, "std": pytest.approx(2**0.5 * 2), "n": 2}
    assert out["fmri2dmri"]["mae"] == {"mean": 0.2, "std": None, "n": 1}
    assert out["dmri2fmri"]["subjects"] == 1
    assert "regions" in protocol() and "data range 1" in protocol()["intensity"]
