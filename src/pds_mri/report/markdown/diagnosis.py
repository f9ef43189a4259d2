"""diagnosis.md of `pds diagnose`: the protocol table, the missing-modality scenario and paired differences."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pds_mri.report.format import percent, with_ci

_METRICS_HEADER = [
    "| protocol | n | accuracy | balanced accuracy | macro F1 | AUC (OvR) |",
    "|---|---|---|---|---|---|",
]


def diagnosis_markdown(result: dict[str, Any]) -> str:
    """The Markdown summary of diagnosis.json (as `run_diagnose` builds it)."""
    lines = [
        "# pds diagnose",
        "",
        f"NC / MCI / AD, classifier `{result['classifier']}`: {result['classifier_description']}.",
        "",
        f"{result['subjects']} subjects with both modalities ({result['class_counts']}), "
        f"{result['folds']['n']} fold(s) from {result['folds']['source']}; seed {result['seed']}; {result['date']}.",
        "",
        f"Protocol: {result['protocol']}.",
        "",
        *_METRICS_HEADER,
    ]
    lines += [_metrics_line(row["protocol"], row) for row in result["table"]]
    sub_rows = [r for r in result["table"] if "on_complete_subjects" in r]
    if sub_rows:
        lines += [
            "",
            f"Missing-modality scenario ({percent(result['missing_fraction'])} of the subjects lack the modality), "
            "every strategy scored on the same complete test subjects:",
            "",
            *_METRICS_HEADER,
        ]
        lines += [_metrics_line(row["protocol"], row["on_complete_subjects"]) for row in sub_rows]
    if result.get("comparisons"):
        lines += [
            "",
            "Paired differences a − b (the same subjects resampled for both; 95 % bootstrap CI):",
            "",
            "| a | b | subjects | n | Δ balanced accuracy | Δ AUC (OvR) |",
            "|---|---|---|---|---|---|",
        ]
        for c in result["comparisons"]:
            lines.append(
                f"| {c['a']} | {c['b']} | {c['subjects']} | {c['n']} | {_ci(c, 'balanced_accuracy', signed=True)} | "
                f"{_ci(c, 'auc_ovr', signed=True)} |"
            )
    if result["not_run"]:
        lines += ["", "Not run:", ""] + [f"- {r['protocol']}: {r['reason']}" for r in result["not_run"]]
    if result["notes"]:
        lines += ["", "Notes:", ""] + [f"- {n}" for n in result["notes"]]
    lines += ["", "Values: point estimate [95 % bootstrap CI]. Confusion matrices are in diagnosis.json.", ""]
    return "\n".join(lines)


def _metrics_line(protocol: str, scores: Mapping[str, Any]) -> str:
    return (
        f"| {protocol} | {scores['n']} | {_ci(scores, 'accuracy')} | {_ci(scores, 'balanced_accuracy')} | "
        f"{_ci(scores, 'macro_f1')} | {_ci(scores, 'auc_ovr')} |"
    )


def _ci(row: Mapping[str, Any], metric: str, signed: bool = False) -> str:
    return with_ci(row.get(metric), row.get(f"{metric}_ci"), signed=signed)
