"""Static PNG figures; matplotlib with the Agg backend, so they render on a headless cluster node."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pds_mri.io.atomic import atomic_path
from pds_mri.io.nifti import load_nifti


def _slices(volume: np.ndarray) -> list[np.ndarray]:
    """Axial, coronal and sagittal mid-slices, oriented for display (RAS grid: rotate so anterior is up)."""
    x, y, z = (s // 2 for s in volume.shape[:3])
    return [np.rot90(volume[:, :, z]), np.rot90(volume[:, y, :]), np.rot90(volume[x, :, :])]


def maps_by_diagnosis_figure(prepared_dir: Path, rows: list[dict], out_png: Path) -> Path:
    """One subject per diagnosis (rows) × fMRI and dMRI maps in three views (columns)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    chosen = []
    for dx in ("NC", "MCI", "AD"):
        full = [r for r in rows if r["diagnosis"] == dx and r.get("fmri") and r.get("dmri")]
        if full:
            chosen.append(full[0])
    if not chosen:
        chosen = [r for r in rows if r.get("fmri") and r.get("dmri")][:3]
    fig, axes = plt.subplots(len(chosen), 6, figsize=(13, 2.3 * len(chosen) + 0.4), squeeze=False)
    for i, row in enumerate(chosen):
        for j, modality in enumerate(("fmri", "dmri")):
            volume = np.asarray(load_nifti(Path(prepared_dir) / row[modality]).dataobj)
            for k, (view, img) in enumerate(zip(("axial", "coronal", "sagittal"), _slices(volume), strict=True)):
                ax = axes[i, 3 * j + k]
                ax.imshow(img, cmap="gray", vmin=-1, vmax=1, interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                if i == 0:
                    ax.set_title(f"{modality} {view}", fontsize=9)
        axes[i, 0].set_ylabel(f"{row['participant_id']}\n{row['diagnosis'] or 'unknown'}", fontsize=9)
    fig.suptitle("Prepared maps on the model grids (normalised to [-1, 1])", fontsize=10)
    fig.tight_layout()
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return Path(out_png)


def synthesis_figure(prepared_dir: Path, synth_dir: Path, rows: list[dict], out_png: Path) -> Path:
    """Per synthesised direction (rows): source on the target grid | real target | synthesis | uncertainty.

    Axial mid-slices on the target's model grid; all in [-1, 1] but the uncertainty (its own colour scale).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pds_mri.io.layout import key_of
    from pds_mri.training.data import load_direction_item, read_cohort

    cohort = {key_of(r): r for r in read_cohort(prepared_dir)}  # a row is a (participant, session)
    fig, axes = plt.subplots(len(rows), 4, figsize=(10, 2.6 * len(rows) + 0.4), squeeze=False)
    for i, row in enumerate(rows):
        item = load_direction_item(prepared_dir, cohort[key_of(row)], row["direction"])
        panels = [
            ("source", item["source"][0].numpy()),
            ("real target", item["target"][0].numpy() if "target" in item else None),
            ("synthesis", np.asarray(load_nifti(Path(synth_dir) / row["synthesis"]).dataobj)),
            (
                "uncertainty (std)",
                np.asarray(load_nifti(Path(synth_dir) / row["uncertainty"]).dataobj)
                if row.get("uncertainty")
                else None,
            ),
        ]
        for j, (title, volume) in enumerate(panels):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(title, fontsize=9)
            if volume is None:
                ax.text(0.5, 0.5, "absent", ha="center", va="center", transform=ax.transAxes)
                continue
            axial = _slices(volume)[0]
            if title.startswith("uncertainty"):
                shown = ax.imshow(axial, cmap="magma", vmin=0, interpolation="nearest")
                fig.colorbar(shown, ax=ax, fraction=0.046)
            else:
                ax.imshow(axial, cmap="gray", vmin=-1, vmax=1, interpolation="nearest")
        axes[i, 0].set_ylabel(f"{row['participant_id']}\n{row['direction']}", fontsize=9)
    fig.suptitle("PDS synthesis on held-out subjects (axial mid-slice, target model grid)", fontsize=10)
    fig.tight_layout()
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return Path(out_png)


def calibration_png(pooled: dict) -> bytes | None:
    """Binned RMS std against RMS |error| per direction (metrics.json "calibration.directions"), with the
    identity line a calibrated std lies on; brain voxels pooled over subjects. None without a curve."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = {d: n.get("brain", {}).get("curve") or [] for d, n in pooled.items()}
    curves = {d: c for d, c in curves.items() if c}
    if not curves:
        return None
    fig, ax = plt.subplots(figsize=(4.2, 4.0))
    top = 0.0
    for direction, curve in curves.items():
        std = [b["rms_std"] for b in curve]
        err = [b["rms_error"] for b in curve]
        top = max(top, *std, *err)
        ax.plot(std, err, marker="o", label=direction)
    ax.plot([0, top], [0, top], color="grey", linestyle="--", linewidth=1, label="calibrated (identity)")
    ax.set_xlabel("predicted std (RMS per bin, [0, 1] scale)")
    ax.set_ylabel("observed |error| (RMS per bin)")
    ax.set_title("uncertainty calibration (10 equal-count std bins)", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=110, format="png")
    plt.close(fig)
    return buffer.getvalue()
