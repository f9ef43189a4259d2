"""report/markdown/diagnosis.py: diagnosis.md from a diagnosis.json-shaped dict, with concrete values."""

from __future__ import annotations

from typing import Any

from pds_mri.report.markdown.diagnosis import diagnosis_markdown


def _scores(n: int, value: float | None, ci: list[float] | None) -> dict[str, Any]:
    names = ("accuracy", "balanced_accuracy", "macro_f1", "auc_ovr")
    return {"n": n, **{m: value for m in names}, **{f"{m}_ci": ci for m in names}}


def test_tables_comparisons_not_run_and_notes() -> None:
    real = {"protocol": "real->real", **_scores(24, 0.8125, [0.7, 0.9])}
    impute = {"protocol": "fmri missing: impute-pds", **_scores(24, 0.5, None)}
    impute["on_complete_subjects"] = _scores(17, None, None)
    result = {
        "classifier": "pca-svm",
        "classifier_description": "PCA then a linear SVM",
        "subjects": 24,
        "class_counts": {"NC": 8, "MCI": 8, "AD": 8},
        "folds": {"n": 3, "source": "split_subjects"},
        "seed": 0,
        "date": "2024-01-01T00:00:00+00:00",
        "protocol": "subject-level CV",
        "missing_fraction": 0.3,
        "table": [real, impute],
        "comparisons": [
            {
                "a": "x",
                "b": "real->real",
                "subjects": "all",
                "n": 24,
                "balanced_accuracy": -0.05,
                "balanced_accuracy_ci": [-0.1, 0.01],
                "auc_ovr": None,
                "auc_ovr_ci": None,
            },
        ],
        "not_run": [{"protocol": "synthetic->real", "reason": "no syntheses"}],
        "notes": ["a note"],
    }
    md = diagnosis_markdown(result)
    lines = md.splitlines()
    ci = "0.812 [0.700, 0.900]"
    assert f"| real->real | 24 | {ci} | {ci} | {ci} | {ci} |" in lines
    assert "| fmri missing: impute-pds | 24 | 0.500 | 0.500 | 0.500 | 0.500 |" in lines
    assert "| fmri missing: impute-pds | 17 | n/a | n/a | n/a | n/a |" in lines
    assert any(line.startswith("Missing-modality scenario (30% of the subjects") for line in lines)
    assert "| x | real->real | all | 24 | -0.050 [-0.100, +0.010] | n/a |" in lines
    assert "- synthetic->real: no syntheses" in lines and "- a note" in lines
    assert md.endswith("\n\nValues: point estimate [95 % bootstrap CI]. Confusion matrices are in diagnosis.json.\n")
