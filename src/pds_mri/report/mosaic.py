"""PNG figures for the HTML report, returned as bytes (matplotlib Agg; no file, no display needed).

`mosaic_png` is the one to call for slice mosaics (source | real | synthesis(es) | absolute error |
uncertainty); `direction_panels` builds those panels for one subject and direction from a prepared
directory and synthesis files; `training_curves_png` plots a run's logs.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

#: Subjects per direction a report page shows slice mosaics of (the tables list them all).
MOSAIC_SUBJECTS = 3
#: Panels whose title contains one of these words are magnitudes: shown from 0 with a colour map and bar.
MAGNITUDE_WORDS = ("error", "uncertainty", "std")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def figure_png(fig: Any, dpi: int = 100) -> bytes:
    """Render a matplotlib figure to PNG bytes (no Software metadata, so bytes depend on pixels only) and close it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    _pyplot().close(fig)
    return buf.getvalue()


def pick_slices(volume_shape: Sequence[int], mask: np.ndarray | None, n: int, axis: int = 2) -> list[int]:
    """`n` slice indices along `axis`, evenly spread over the mask's extent (else over the whole volume)."""
    size = int(volume_shape[axis])
    lo, hi = 0, size - 1
    if mask is not None and np.any(mask):
        other = tuple(a for a in range(3) if a != axis)
        present = np.flatnonzero(np.any(np.asarray(mask) > 0, axis=other))
        lo, hi = int(present[0]), int(present[-1])
    if n <= 1:
        return [(lo + hi) // 2]
    fractions = np.linspace(0.2, 0.8, n)
    return sorted({round(float(lo + f * (hi - lo))) for f in fractions})


def _take(volume: np.ndarray, index: int, axis: int) -> np.ndarray:
    """One slice, rotated for display (RAS grid: anterior/superior up), like report.figures."""
    return np.rot90(np.take(np.asarray(volume, dtype=np.float32), index, axis=axis))


def mosaic_png(
    panels: Sequence[tuple[str, np.ndarray | None]],
    *,
    mask: np.ndarray | None = None,
    n_slices: int = 3,
    axis: int = 2,
    title: str | None = None,
    intensity_range: tuple[float, float] = (-1.0, 1.0),
    magnitude_max: float | None = None,
    dpi: int = 90,
) -> bytes:
    """A PNG mosaic: one column per panel, one row per slice (axial by default, `axis` 0/1/2 of the grid).

    panels: (title, 3D volume on one common grid), e.g. [("source", s), ("real", r), ("PDS", p), ("U-Net", u),
      ("absolute error", |p - r|), ("uncertainty", std)]; a None volume draws an "absent" panel. Titles with
      "error", "uncertainty" or "std" are magnitudes (magma from 0): all "error" panels share one scale, up to
      `magnitude_max` (default their largest value), so methods compare; uncertainty panels share another.
      The others are intensities in `intensity_range` (grey).
    mask: optional 3D brain mask choosing the slices (spread over its extent).
    """
    plt = _pyplot()
    if not panels:
        raise ValueError("mosaic_png needs at least one panel")
    volumes = [np.asarray(v, dtype=np.float32) if v is not None else None for _, v in panels]
    shapes = {v.shape for v in volumes if v is not None}
    if not shapes:
        raise ValueError("mosaic_png: every panel is absent")
    if len(shapes) > 1 or any(len(s) != 3 for s in shapes):
        raise ValueError(f"mosaic_png: panels must be 3D volumes on one grid, got shapes {sorted(shapes)}")
    shape = shapes.pop()
    magnitude = [any(w in t.lower() for w in MAGNITUDE_WORDS) for t, _ in panels]
    # errors share one colour scale (so methods compare), uncertainties another
    groups = ["error" if "error" in t.lower() else "uncertainty" for t, _ in panels]
    peaks: dict[str, float] = {}
    for volume, is_mag, group in zip(volumes, magnitude, groups, strict=True):
        if is_mag and volume is not None and volume.size and np.isfinite(volume).any():
            peaks[group] = max(peaks.get(group, 1e-6), float(np.nanmax(volume)))
    if magnitude_max is not None:
        peaks["error"] = magnitude_max
    slices = pick_slices(shape, mask, n_slices, axis)
    ncols, nrows = len(panels), len(slices)
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.9 * ncols + 0.6, 1.9 * nrows + 0.5), squeeze=False)
    for j, ((name, _), volume, is_mag, group) in enumerate(zip(panels, volumes, magnitude, groups, strict=True)):
        for i, index in enumerate(slices):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(name, fontsize=9)
            if j == 0:
                ax.set_ylabel(f"{'xyz'[axis]} = {index}", fontsize=8)
            if volume is None:
                ax.text(0.5, 0.5, "absent", ha="center", va="center", transform=ax.transAxes, fontsize=8)
                ax.set_facecolor("#eeeeee")
                continue
            if is_mag:
                shown = ax.imshow(_take(volume, index, axis), cmap="magma", vmin=0, vmax=peaks.get(group, 1.0))
                if i == nrows - 1:
                    fig.colorbar(shown, ax=axes[:, j].tolist(), fraction=0.046, pad=0.02, location="bottom")
            else:
                ax.imshow(_take(volume, index, axis), cmap="gray", vmin=intensity_range[0], vmax=intensity_range[1])
    if title:
        fig.suptitle(title, fontsize=10)
    return figure_png(fig, dpi)


def direction_panels(
    prepared_dir: Path,
    cohort_row: Mapping[str, Any],
    direction: str,
    syntheses: Sequence[tuple[str, str | Path]],
    uncertainty: str | Path | None = None,
    error_of: int = 0,
) -> tuple[list[tuple[str, np.ndarray | None]], np.ndarray]:
    """Panels source | real | each synthesis | absolute error | uncertainty for one subject and direction.

    All on the target's model grid (the source resampled onto it, as the model sees it). syntheses: (label,
    NIfTI path) of each method's `space-<target>grid` synthesis; the absolute error (on the [0, 1] protocol
    scale, inside the brain mask) is that of syntheses[error_of]; uncertainty: a synthstd NIfTI or None.
    Returns (panels, brain mask) for `mosaic_png(panels, mask=mask)`.
    """
    from pds_mri.io.nifti import load_nifti
    from pds_mri.training.data import load_direction_item

    item = load_direction_item(Path(prepared_dir), cohort_row, direction)
    mask = item["mask"][0].numpy() > 0
    real = item["target"][0].numpy() if "target" in item else None
    panels: list[tuple[str, np.ndarray | None]] = [("source", item["source"][0].numpy()), ("real", real)]
    volumes = []
    for label, path in syntheses:
        volume = np.asarray(load_nifti(str(path)).dataobj, dtype=np.float32)
        volumes.append(volume)
        panels.append((label, volume))
    if real is not None and volumes:
        error = np.abs(np.clip(volumes[error_of], -1, 1) - real) / 2.0 * mask
        panels.append((f"absolute error ({syntheses[error_of][0]})", error))
    if uncertainty:
        panels.append(("uncertainty (std)", np.asarray(load_nifti(str(uncertainty)).dataobj, dtype=np.float32)))
    return panels, mask


def read_log(path: Path) -> list[dict[str, float]]:
    """Numeric rows of a trainer CSV log (missing or unreadable → []; non-numeric cells → NaN)."""
    try:
        with Path(path).open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error):
        return []
    out = []
    for row in rows:
        parsed = {}
        for k, v in row.items():
            if k is None:
                continue
            try:
                parsed[k] = float(v)
            except (TypeError, ValueError):
                parsed[k] = float("nan")
        if "step" in parsed and math.isfinite(parsed["step"]):
            out.append(parsed)
    return out


def training_curves_png(
    stage_logs: Mapping[str, tuple[Sequence[Mapping[str, float]], Sequence[Mapping[str, float]]]],
) -> bytes | None:
    """One row per stage: training loss | validation PSNR | validation SSIM against the step.

    stage_logs: {stage: (train rows, val rows)} as `read_log` returns them. Validation curves show the mean
    over directions (solid) and each direction (dashed) when logged. None when there is nothing to plot.
    """
    stages = [s for s, (train, val) in stage_logs.items() if train or val]
    if not stages:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(len(stages), 3, figsize=(12, 2.8 * len(stages) + 0.3), squeeze=False)
    for i, stage in enumerate(stages):
        train, val = stage_logs[stage]
        _plot(axes[i, 0], train, ["loss"], f"{stage}: training loss", marker="o" if len(train) < 30 else "")
        for j, metric in ((1, "psnr"), (2, "ssim")):
            columns = [metric, *sorted({k for r in val for k in r if k.endswith(f"/{metric}")})]
            _plot(axes[i, j], val, columns, f"{stage}: validation {metric.upper()}", marker="o")
    fig.tight_layout()
    return figure_png(fig, 90)


def _plot(ax: Any, rows: Sequence[Mapping[str, float]], columns: list[str], title: str, marker: str = "") -> None:
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("step", fontsize=8)
    ax.tick_params(labelsize=7)
    drawn = False
    for column in columns:
        points = [(r["step"], r[column]) for r in rows if column in r and math.isfinite(r.get(column, math.nan))]
        if points:
            steps, values = zip(*points, strict=True)
            ax.plot(steps, values, marker=marker, linestyle="-" if "/" not in column else "--", label=column)
            drawn = True
    if not drawn:
        ax.text(0.5, 0.5, "not logged", ha="center", va="center", transform=ax.transAxes, fontsize=8)
    elif len(columns) > 1:
        ax.legend(fontsize=7)
