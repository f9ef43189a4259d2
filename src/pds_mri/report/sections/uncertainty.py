"""The Uncertainty part of an evaluation section: how far to trust the std maps of the syntheses."""

from __future__ import annotations

from typing import Any

from pds_mri.report.html import image, note, table


def calibration_section(payload: dict[str, Any]) -> str:
    """Pooled Spearman ρ(std, |error|) and ±kσ coverage per direction from metrics.json, and the calibration
    plot; a note when no synthesis had a std map."""
    from pds_mri.report.figures import calibration_png

    pooled = (payload.get("calibration") or {}).get("directions") or {}
    if not pooled:
        return "<h3>Uncertainty</h3>" + note("no std maps among these syntheses (synthesise with --samples N > 1)")
    rows = [
        {
            "direction": direction,
            "subjects": numbers.get("subjects"),
            **{f"ρ {region}": (numbers.get(region) or {}).get("spearman") for region in ("brain", "interior", "edge")},
            "±1σ coverage (0.683)": (numbers.get("brain") or {}).get("coverage_1sd"),
            "±2σ coverage (0.954)": (numbers.get("brain") or {}).get("coverage_2sd"),
        }
        for direction, numbers in pooled.items()
    ]
    parts = [table(rows, caption="uncertainty, brain voxels pooled over subjects (edge: mask-boundary voxels)")]
    png = calibration_png(pooled)
    if png is not None:
        parts.append(image(png, "uncertainty calibration", "binned predicted std vs observed |error|"))
    return "<h3>Uncertainty</h3>" + "\n".join(parts)
