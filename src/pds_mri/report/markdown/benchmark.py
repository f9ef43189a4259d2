"""results.md of `pds benchmark`: the per model × direction table and the disease signal kept."""

from __future__ import annotations

from typing import Any

from pds_mri.report.format import difference, fixed, mean_std, thousands, with_ci

GROUP_REGIONS = ("disease", "brain", "gm", "wm", "csf")


def results_markdown(results: dict[str, Any]) -> str:
    """The Markdown summary of results.json (as `write_results` builds it)."""
    ref = results["reference"]
    lines = [
        "# pds benchmark",
        "",
        f"{results['folds']}-fold subject-level cross-validation, seed {results['seed']}, "
        f"{results['subjects']} subjects with both modalities, preset `{results['preset']}`; "
        f"{results['date']}, {results['machine']['platform']} ({results['machine']['cpus']} CPUs).",
        "",
        "Mean ± std over subjects inside the brain mask on the [0, 1] scale. Δ = "
        f"{ref} − model with its 95 % bootstrap CI and Wilcoxon p (positive ΔPSNR/ΔSSIM favour {ref}).",
        "",
        "Parameters: trained parameters of every part (refiners and discriminator included); steps: optimiser "
        "steps summed over training stages, batch 1 per direction.",
        "",
        "| model | direction | n | PSNR (dB) | SSIM | MAE | ΔPSNR | ΔSSIM | parameters | steps | train (s) "
        "| synthesis (s/subject) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in results["table"]:
        steps = "n/a" if row.get("optimiser_steps") is None else str(row["optimiser_steps"])
        lines.append(
            f"| {row['model']} | {row['direction']} | {row['n']} | "
            f"{mean_std(row['psnr_mean'], row['psnr_std'], 2)} | {mean_std(row['ssim_mean'], row['ssim_std'], 4)} | "
            f"{mean_std(row['mae_mean'], row['mae_std'], 4)} | {_delta(row, 'psnr', 2)} | {_delta(row, 'ssim', 4)} | "
            f"{thousands(row.get('parameters'))} | {steps} | {fixed(row['train_seconds'], 1)} | "
            f"{fixed(row['synth_seconds_per_subject'], 3)} |"
        )
    lines += group_markdown(results.get("group_differences") or {})
    if not results["complete"]:
        lines += ["", "_Incomplete: some (model, fold) pairs are not finished; re-run the same command to continue._"]
    return "\n".join(lines) + "\n"


def group_markdown(groups: dict[str, Any]) -> list[str]:
    """The disease signal kept: ratio synthetic / real of the AD − NC difference of regional means."""
    if not groups:
        return []
    lines = [
        "",
        "## Disease signal kept (AD − NC)",
        "",
        "Ratio synthetic / real of the AD − NC difference of regional mean intensity over the same out-of-fold "
        "test subjects (1 = kept, 0 = erased, > 1 = exaggerated) [95 % bootstrap CI]; the real difference "
        "(on the [0, 1] scale) in parentheses. Where the real difference's own CI spans 0 there is no disease "
        "signal to keep and the ratio is not shown. All regions and MCI − NC: results.json → group_differences.",
        "",
        "| model | direction | " + " | ".join(GROUP_REGIONS) + " |",
        "|---|---|" + "---|" * len(GROUP_REGIONS),
    ]
    for model, payload in groups.items():
        rows = {(r["direction"], r["region"]): r for r in payload["rows"] if r["contrast"] == "AD-NC"}
        for direction in sorted({d for d, _ in rows}):
            cells = []
            for region in GROUP_REGIONS:
                r = rows.get((direction, region))
                if r is None or r["ratio"] is None:
                    cells.append("n/a")
                    continue
                real = fixed(r["real_difference"], 3, signed=True)
                real_low, real_high = r["real_difference_ci"]
                if real_low is None or real_low <= 0 <= real_high:
                    cells.append(f"no real effect ({real})")
                    continue
                cells.append(f"{with_ci(r['ratio'], r['ratio_ci'], 2)} ({real})")
            lines.append(f"| {model} | {direction} | " + " | ".join(cells) + " |")
    return lines


def _delta(row: dict[str, Any], metric: str, digits: int) -> str:
    """The reference − model difference of one metric in a results table row."""
    return difference(row[f"delta_{metric}"], row[f"delta_{metric}_ci"], row[f"p_{metric}"], digits)
