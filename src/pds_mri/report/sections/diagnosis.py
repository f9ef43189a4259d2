"""The Diagnosis section: a `pds diagnose` output (diagnosis.json) found inside a run or benchmark directory."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pds_mri.io.result_files import DiagnosisResult
from pds_mri.io.run_layout import DIAGNOSIS_JSON
from pds_mri.report.format import with_ci
from pds_mri.report.html import Page, definitions, details, note, paragraph, table
from pds_mri.report.read import is_table, read_result

DIAGNOSIS_COLUMNS = ("accuracy", "balanced_accuracy", "macro_f1", "auc_ovr")


def add_diagnoses(page: Page, root: Path) -> None:
    """A Diagnosis section per `pds diagnose` output under `root` (not inside a benchmark's runs/)."""
    found = sorted(p for p in root.rglob(DIAGNOSIS_JSON) if "runs" not in p.relative_to(root).parts[:-1])
    for path in found:
        heading = "Diagnosis" if len(found) == 1 else f"Diagnosis ({path.parent.relative_to(root)})"
        page.add(heading, diagnosis_section(path))


def diagnosis_section(path: Path) -> str:
    """NC / MCI / AD protocol table with 95 % CIs, what could not run and why, and the protocol text."""
    result, problem = read_result(path, DiagnosisResult)
    if result is None or not is_table(result.get("table")):
        return note(f"{path.name} is not a readable `pds diagnose` output ({problem or 'no protocol was run'})")

    rows = [
        _metrics_row({"protocol": r.get("protocol"), "n": r.get("n")}, r, DIAGNOSIS_COLUMNS) for r in result["table"]
    ]
    parts = [
        paragraph(
            f"Classifier {result.get('classifier')} on {result.get('subjects')} subjects "
            f"({class_counts(result.get('class_counts'))}); "
            f"folds: {(result.get('folds') or {}).get('source', 'n/a')}."
        ),
        table(rows, caption="Out-of-fold NC / MCI / AD classification, 95 % bootstrap CIs over participants"),
    ]
    complete = [r for r in result["table"] if isinstance(r.get("on_complete_subjects"), dict)]
    if complete:
        like = [
            _metrics_row(
                {"protocol": r.get("protocol"), "n": r["on_complete_subjects"].get("n")},
                r["on_complete_subjects"],
                DIAGNOSIS_COLUMNS,
            )
            for r in complete
        ]
        parts.append(table(like, caption="Missing-modality strategies scored on the same complete subjects"))
    comparisons = result.get("comparisons")
    if is_table(comparisons):
        pairs = [
            _metrics_row(
                {"a − b": f"{c.get('a')} − {c.get('b')}", "subjects": c.get("subjects"), "n": c.get("n")},
                c,
                ("balanced_accuracy", "auc_ovr"),
                signed=True,
            )
            for c in comparisons
        ]
        parts.append(table(pairs, caption="Paired differences (same subjects resampled for both), 95 % bootstrap CIs"))
    not_run = result.get("not_run")
    if is_table(not_run) and not_run:
        parts.append(table(not_run, ["protocol", "reason"], caption="Protocols that could not run"))
    notes = result.get("notes")
    if isinstance(notes, list) and notes:
        parts.append(definitions((f"note {i + 1}", n) for i, n in enumerate(notes)))
    if result.get("protocol"):
        parts.append(details("protocol", paragraph(str(result["protocol"]))))
    return "\n".join(parts)


def class_counts(counts: Any) -> str:
    """'NC 8, MCI 8, AD 8' from diagnosis.json's class_counts."""
    if not isinstance(counts, dict):
        return "classes n/a"
    return ", ".join(f"{k} {v}" for k, v in counts.items())


def _metrics_row(
    head: dict[str, Any], row: Mapping[str, Any], metrics: tuple[str, ...], signed: bool = False
) -> dict[str, Any]:
    return head | {m.replace("_", " "): with_ci(row.get(m), row.get(f"{m}_ci"), signed=signed) for m in metrics}
