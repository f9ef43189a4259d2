"""Running `pds diagnose`'s protocols: per protocol a fresh classifier per fold (cross_validate), metrics with
bootstrap CIs on the pooled out-of-fold predictions, and the paired differences the targets are about."""

from __future__ import annotations

from typing import Any

from pds_mri.errors import PdsError
from pds_mri.evaluation.diagnosis import FeatureTable
from pds_mri.evaluation.diagnosis_sources import Folds
from pds_mri.progress import console

PROTOCOL_TEXT = (
    "subject-level CV; per fold a fresh classifier Pipeline fitted on the training subjects only (leakage guard: "
    "every scaler/PCA checked to have seen exactly n_train samples; train/test disjoint); synthetic maps are "
    "out-of-fold (made by a model whose split had the subject in its test set) and made without the diagnosis; "
    "metrics on the pooled out-of-fold predictions; 95 % percentile bootstrap CIs over participants (all "
    "sessions of a drawn participant)"
)


def run_protocols(
    table: FeatureTable, folds: Folds, *, classifier: str, models: tuple[str, ...], missing_fraction: float, seed: int
) -> tuple[list[dict], list[dict], list[dict]]:
    """Every protocol on `table`: (rows of the table, protocols not run with the reason, paired comparisons).

    `models[0]` makes the hybrid/synthetic rows, every model imputes in the missing-modality rows (hiding
    `missing_fraction` of the subjects' second modality)."""
    from pds_mri.evaluation.diagnosis import classification_metrics, cross_validate, subset
    from pds_mri.evaluation.protocols import choose_missing, main_protocols, missing_protocols, unavailable

    protocols = main_protocols(models[0])
    missing: frozenset[str] = frozenset()
    if missing_fraction > 0:
        missing = choose_missing(table.ids, table.y.tolist(), missing_fraction, seed)
    complete = frozenset(table.ids) - missing
    if missing:
        protocols += missing_protocols(missing, complete, models)
    rows: list[dict] = []
    not_run: list[dict] = []
    done: dict[str, tuple[Any, dict]] = {}  # protocol name -> (protocol, its pooled predictions)
    for protocol in protocols:
        reason = unavailable(table, folds, protocol)
        if reason is None:
            try:
                cv = cross_validate(table, folds, protocol, classifier, seed)
            except PdsError as exc:
                reason = str(exc)
        if reason is not None:
            console.print(f"  {protocol.name}: not run ({reason})")
            not_run.append({"protocol": protocol.name, "group": protocol.group, "reason": reason})
            continue
        metrics = classification_metrics(cv["y_true"], cv["y_pred"], cv["proba"], seed=seed, ids=cv["participant_id"])
        row: dict[str, Any] = {
            "protocol": protocol.name,
            "group": protocol.group,
            "description": protocol.description,
            **metrics,
            "folds": cv["folds"],
            "predictions": [
                {"participant_id": s, "fold": f, "y_true": int(t), "y_pred": int(p), "proba": [float(x) for x in q]}
                for s, f, t, p, q in zip(
                    cv["participant_id"], cv["fold"], cv["y_true"], cv["y_pred"], cv["proba"], strict=True
                )
            ],
        }
        if protocol.group != "main":  # like-for-like: every strategy scored on the complete test subjects too
            sub = subset(cv, complete)
            row["on_complete_subjects"] = classification_metrics(
                sub["y_true"], sub["y_pred"], sub["proba"], seed=seed, ids=sub["participant_id"]
            )
        console.print(f"  {protocol.name}: balanced accuracy {row['balanced_accuracy']:.3f} (n={row['n']})")
        rows.append(row)
        done[protocol.name] = (protocol, cv)
    return rows, not_run, paired_comparisons(done, models[0], seed)


def paired_comparisons(done: dict[str, tuple[Any, dict]], imputer: str, seed: int) -> list[dict[str, Any]]:
    """The differences the targets are about, each with a paired bootstrap CI over participants.

    Every main protocol against real->real (all subjects); in each missing-modality group, imputation with
    `imputer` against dropping the incomplete subjects on the complete ones (the only subjects `drop` predicts),
    and against every other strategy on all subjects (imputation only acts on the incomplete ones).
    """
    from pds_mri.evaluation.diagnosis import paired_difference

    out: list[dict[str, Any]] = []
    reference = "real->real"
    pairs: list[tuple[str, str, frozenset[str] | None, str]] = []
    if reference in done:
        pairs += [(n, reference, None, "all") for n, (p, _) in done.items() if p.group == "main" and n != reference]
    for name, (protocol, _) in done.items():
        if protocol.group != "main" and name.endswith(f": impute-{imputer}"):
            for other, (p, _) in done.items():
                if p.group == protocol.group and other != name:  # compared where `other` predicts (drop: complete)
                    only = p.test_subjects
                    pairs.append((name, other, only, "all" if only is None else "complete"))
    for a, b, subjects, scope in pairs:
        diff = paired_difference(done[a][1], done[b][1], subjects, seed=seed)
        out.append({"a": a, "b": b, "subjects": scope, **diff})
    return out
