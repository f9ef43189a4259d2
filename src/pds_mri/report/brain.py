"""Three-plane brain figures (nilearn.plotting, matplotlib Agg) for the QC pages, returned as PNG bytes.

Every row of a figure is one image in `display_mode="ortho"`: sagittal, coronal and axial planes drawn in world
millimetres, so voxels keep their physical aspect (a 6.8 × 6.8 × 9 mm grid is not drawn square), with the mm
coordinate of each cut, L/R marks and a colour bar. All rows of a figure cut at the same mm coordinates, so a
grid's map, its source on another grid and the template line up by position, not by voxel index. Nothing is
downloaded: the MNI152 template and brain mask ship with nilearn.
"""

from __future__ import annotations

import functools
import io
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import nibabel as nib
import numpy as np

#: PNG resolution of the QC figures: enough to read a coarse model grid, small enough that a page of a few
#: subjects stays well under a few MB.
QC_DPI = 60
ROW_HEIGHT_IN = 2.3
ROW_WIDTH_IN = 8.0


@dataclass(frozen=True)
class Contour:
    """An outline drawn on every plane of a row: the 0.5 level of `img` (a mask or any 0/1 image)."""

    img: nib.Nifti1Image
    colour: str
    style: str = "solid"


@dataclass(frozen=True)
class Row:
    """One image of a figure. img None draws an "absent" row (with `note` as the reason).

    on_template: drawn over the MNI152 template (voxels at or below `threshold` transparent), else on its own.
    """

    title: str
    img: nib.Nifti1Image | None
    cmap: str = "gray"
    vmin: float = -1.0
    vmax: float = 1.0
    on_template: bool = False
    threshold: float | None = None
    contours: tuple[Contour, ...] = ()
    note: str = "absent"


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


@functools.lru_cache(maxsize=1)
def template() -> nib.Nifti1Image:
    """nilearn's MNI152 T1 template at 2 mm (shipped with nilearn)."""
    from nilearn.datasets import load_mni152_template

    return load_mni152_template(resolution=2)


@functools.lru_cache(maxsize=1)
def template_mask() -> nib.Nifti1Image:
    """nilearn's MNI152 brain mask at 2 mm, as float 0/1 (contours and overlaps)."""
    from nilearn.datasets import load_mni152_brain_mask

    mask = load_mni152_brain_mask(resolution=2)
    return nib.Nifti1Image(np.asarray(mask.dataobj, dtype=np.float32), mask.affine)


def image(data: np.ndarray, affine: np.ndarray) -> nib.Nifti1Image:
    return nib.Nifti1Image(np.asarray(data, dtype=np.float32), np.asarray(affine, dtype=np.float64))


def voxel_mm(img: nib.Nifti1Image) -> tuple[float, ...]:
    """Voxel edge lengths in mm, from the affine (the header zooms may disagree with it)."""
    return tuple(float(v) for v in np.sqrt((np.asarray(img.affine)[:3, :3] ** 2).sum(axis=0)))


def cut_coords(mask: nib.Nifti1Image | None, fallback: nib.Nifti1Image | None = None) -> tuple[float, float, float]:
    """World mm of the voxel centre nearest the mask's centroid (its grid's centre when the mask is empty):
    a cut through voxel centres, so each plane shows one slice of a coarse grid, not a blend."""
    img = mask if mask is not None else fallback
    if img is None:
        return (0.0, 0.0, 0.0)
    data = np.asarray(img.dataobj)
    data = data[..., 0] if data.ndim == 4 else data
    inside = np.argwhere(data > 0.5)
    centre = inside.mean(axis=0) if len(inside) else (np.asarray(data.shape[:3]) - 1) / 2.0
    voxel = np.round(centre)
    x, y, z = (np.asarray(img.affine) @ np.append(voxel, 1.0))[:3]
    return (float(x), float(y), float(z))


def field_of_view(img: nib.Nifti1Image) -> nib.Nifti1Image:
    """The grid's box as a 0/1 image on the template's 2 mm grid: its 0.5 contour outlines the grid's extent."""
    from nilearn.image import resample_to_img

    ones = image(np.ones(img.shape[:3], dtype=np.float32), img.affine)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return resample_to_img(
            ones, template(), interpolation="nearest", fill_value=0, force_resample=True, copy_header=True
        )


def overlay_values(data: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """Values for an overlay drawn with threshold 0: outside the mask exactly 0 (transparent), inside never
    exactly 0 (a true 0 becomes 1e-5, invisible on a [-1, 1] colour scale)."""
    out = np.asarray(data, dtype=np.float32).copy()
    out[np.isclose(out, 0.0, atol=1e-6)] = 1e-5
    if mask is not None:
        out[~mask] = 0.0
    return out


def ortho_png(
    rows: Sequence[Row],
    cut: tuple[float, float, float],
    title: str | None = None,
    dpi: int | None = None,
) -> bytes:
    """A PNG of one ortho row per image, all cut at `cut` (mm), each with its colour bar and contours."""
    from nilearn import plotting

    if not rows:
        raise ValueError("ortho_png needs at least one row")
    plt = _pyplot()
    top = 0.3 if title else 0.0
    height = ROW_HEIGHT_IN * len(rows) + top
    fig = plt.figure(figsize=(ROW_WIDTH_IN, height), facecolor="black")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nilearn warns about NaN → 0, int casts and resampling of masks
        for i, row in enumerate(rows):
            bottom = 1.0 - (top + ROW_HEIGHT_IN * (i + 1)) / height
            rect = (0.0, bottom, 1.0, ROW_HEIGHT_IN / height * 0.97)
            _draw_row(plotting, fig, rect, row, cut)
    if title:
        fig.suptitle(title, color="white", fontsize=10, y=1.0 - 0.05 / height)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi or QC_DPI, facecolor="black", metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


def _draw_row(plotting: Any, fig: Any, rect: tuple[float, ...], row: Row, cut: tuple[float, float, float]) -> None:
    title = row.title  # contour colours are named in the figure's caption: a long title would hide the L/R marks
    if row.img is None:
        ax = fig.add_axes(rect)
        ax.set_facecolor("black")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.text(0.5, 0.5, f"{row.title}: {row.note}", color="white", ha="center", va="center", fontsize=9)
        return
    common = {"display_mode": "ortho", "cut_coords": cut, "figure": fig, "axes": rect, "draw_cross": False}
    ticks = "%.2f" if max(abs(row.vmin), abs(row.vmax)) <= 10 else "%.3g"
    if row.on_template:
        display = plotting.plot_anat(template(), colorbar=False, title=title, dim=-0.5, black_bg=True, **common)
        display.add_overlay(
            row.img,
            cmap=row.cmap,
            vmin=row.vmin,
            vmax=row.vmax,
            threshold=row.threshold if row.threshold is not None else 1e-6,
            colorbar=True,
            cbar_tick_format=ticks,
            cbar_vmin=row.vmin,
            cbar_vmax=row.vmax,
        )
    else:
        display = plotting.plot_img(
            row.img,
            title=title,
            cmap=row.cmap,
            vmin=row.vmin,
            vmax=row.vmax,
            threshold=row.threshold,
            colorbar=True,
            cbar_tick_format=ticks,
            black_bg=True,
            resampling_interpolation="nearest",
            **common,
        )
    for contour in row.contours:
        display.add_contours(
            contour.img, levels=[0.5], colors=[contour.colour], linewidths=1.2, linestyles=contour.style
        )
