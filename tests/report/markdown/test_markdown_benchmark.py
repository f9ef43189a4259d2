"""report/markdown/benchmark.py: results.md from a results.json-shaped dict, with concrete values."""

from __future__ import annotations

from typing import Any

from pds_mri.report.markdown.benchmark import group_markdown, results_markdown


def _row(model: str, **extra: Any) -> dict[str, Any]:
    row = {
        "model": model,
        "direction": "fmri2dmri",
        "n": 4,
        **{f"{m}_{s}": None for m in ("psnr", "ssim", "mae") for s in ("mean", "std")},
        **{f"delta_{m}": None for m in ("psnr", "ssim", "mae")},
        **{f"delta_{m}_ci": None for m in ("psnr", "ssim", "mae")},
        **{f"p_{m}": None for m in ("psnr", "ssim", "mae")},
        "train_seconds": None,
        "synth_seconds_per_subject": None,
        "parameters": None,
        "optimiser_steps": None,
    }
    return row | extra


def _results(table: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "reference": "pds",
        "folds": 2,
        "seed": 0,
        "subjects": 8,
        "preset": "cpu",
        "date": "2024-01-01T00:00:00+00:00",
        "machine": {"platform": "Linux", "cpus": 2},
        "table": table,
        "complete": True,
    } | extra


def test_rows_show_mean_std_differences_with_ci_and_p_and_budgets() -> None:
    pds = _row("pds", psnr_mean=21.5317, psnr_std=0.4123, ssim_mean=0.61234, ssim_std=None, mae_mean=0.05)
    pds |= {"train_seconds": 12.345, "synth_seconds_per_subject": 0.12345, "parameters": 1234567, "optimiser_steps": 60}
    unet = _row("unet", psnr_mean=20.1, delta_psnr=1.4317, delta_psnr_ci=[0.9, 1.9], p_psnr=0.03125, delta_ssim=-0.002)
    md = results_markdown(_results([pds, unet]))
    lines = md.splitlines()
    assert md.startswith("# pds benchmark\n") and md.endswith("|\n")
    assert "2-fold subject-level cross-validation, seed 0, 8 subjects" in md and "(2 CPUs)" in md
    assert (
        lines[-2] == "| pds | fmri2dmri | 4 | 21.53 ± 0.41 | 0.6123 | 0.0500 | — | — | 1,234,567 | 60 | 12.3 | 0.123 |"
    )
    delta = "+1.43 [+0.90, +1.90] (p=0.031) | -0.0020"
    assert lines[-1] == f"| unet | fmri2dmri | 4 | 20.10 | n/a | n/a | {delta} | n/a | n/a | n/a | n/a |"


def test_an_unfinished_benchmark_says_so() -> None:
    assert "_Incomplete:" in results_markdown(_results([_row("pds")], complete=False))


def test_disease_signal_ratio_only_where_the_real_difference_is_there() -> None:
    def g(region: str, ratio: float | None, real: float, real_ci: list[float | None]) -> dict[str, Any]:
        return {
            "direction": "fmri2dmri",
            "region": region,
            "contrast": "AD-NC",
            "ratio": ratio,
            "ratio_ci": [0.5, 1.1],
            "real_difference": real,
            "real_difference_ci": real_ci,
        }

    rows = [g("disease", 0.8123, 0.0423, [0.01, 0.07]), g("brain", 1.2, 0.002, [-0.01, 0.02]), g("gm", None, 0, [0, 0])]
    lines = group_markdown({"pds": {"rows": rows}})
    assert lines[-1] == "| pds | fmri2dmri | 0.81 [0.50, 1.10] (+0.042) | no real effect (+0.002) | n/a | n/a | n/a |"
    assert group_markdown({}) == []
