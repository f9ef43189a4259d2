"""The disease-signal part of an evaluation section: is the AD − NC difference of the real maps kept in the
syntheses of the same subjects? Shown as group-mean difference maps, real beside synthetic."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pds_mri.errors import PdsError
from pds_mri.io.layout import key_of
from pds_mri.report.format import fixed
from pds_mri.report.html import image, note
from pds_mri.report.read import existing_dir


def difference_maps(payload: dict[str, Any], metrics_path: Path) -> str:
    """Per direction: the AD − NC difference of group-mean maps in the real targets and in the syntheses of the
    same subjects, side by side on one symmetric scale, with the regional ratios of group_differences."""
    import torch

    from pds_mri.evaluation.features import read_grid_map
    from pds_mri.evaluation.group_difference import mean_difference_map
    from pds_mri.evaluation.metrics import to_unit

    def _unit(x: np.ndarray) -> np.ndarray:  # [-1, 1] maps on the [0, 1] protocol scale
        return to_unit(torch.from_numpy(x)).numpy()

    from pds_mri.report.mosaic import mosaic_png
    from pds_mri.training.data import direction_modalities, read_cohort

    inputs = payload.get("inputs", {})
    synth_dir = existing_dir(inputs.get("synth_dir"), metrics_path.parent)
    prepared_dir = existing_dir(inputs.get("prepared_dir"), metrics_path.parent)
    if synth_dir is None or prepared_dir is None:
        return note(
            "difference maps unavailable: the synthesis or prepared directory named in metrics.json is not there"
        )
    cohort = {key_of(r): r for r in read_cohort(prepared_dir)}
    ratios = (payload.get("group_differences") or {}).get("rows") or []
    out = []
    for direction in sorted({r["direction"] for r in payload["rows"]}):
        rows = [r for r in payload["rows"] if r["direction"] == direction and r.get("diagnosis") in ("AD", "NC")]
        _, target = direction_modalities(direction)
        try:
            real = [_unit(read_grid_map(prepared_dir / str(cohort[key_of(r)][target]))) for r in rows]
            synth = [_unit(read_grid_map(synth_dir / r["synthesis"])) for r in rows]
            groups = [r["diagnosis"] for r in rows]
            d_real = mean_difference_map(real, groups, "AD", "NC")
            d_synth = mean_difference_map(synth, groups, "AD", "NC")
        except (ValueError, KeyError, OSError, PdsError) as exc:
            out.append(note(f"{direction}: difference maps unavailable ({exc})"))
            continue
        mask = read_grid_map(prepared_dir / str(cohort[key_of(rows[0])][f"{target}_mask"])) > 0
        # a robust symmetric scale: the mask edge, where one group's mean meets the background, would set the max
        inside = np.concatenate([np.abs(d_real[mask]), np.abs(d_synth[mask])])
        top = float(max(np.percentile(inside, 99) if inside.size else 0.0, 1e-6))
        png = mosaic_png(
            [("real AD − NC", d_real), ("synthetic AD − NC", d_synth)], mask=mask, intensity_range=(-top, top)
        )
        kept = [
            f"{g['region']} {fixed(g['ratio'], 2)}"
            for g in ratios
            if g.get("direction") == direction and g.get("contrast") == "AD-NC" and g.get("ratio") is not None
        ]
        caption = (
            f"{direction}: group-mean difference AD − NC ({groups.count('AD')} AD, {groups.count('NC')} NC) on the "
            f"[0, 1] scale, grey from −{fixed(top)} (black) to +{fixed(top)} (white; the 99th percentile of "
            "|difference| in the brain mask, larger values saturate). Ratio synthetic / real per region: "
            + (", ".join(kept) or "n/a")
        )
        out.append(image(png, f"AD − NC {direction}", caption))
    return "\n".join(out) or note("no AD and NC subjects to compare")
