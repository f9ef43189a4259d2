"""The diagnosis protocols of docs/evaluation.md / issue 5, each one row of `pds diagnose`'s table.

Sources: "real" is the prepared map; a model name ("pds", "unet") is that model's out-of-fold synthesis of the
map (made by a model that never saw the subject, without its diagnosis). Modalities are always in the order
fMRI, dMRI. In the missing-modality scenario a stratified, seeded share of the subjects (training AND test)
lacks one modality; the strategies:
  drop         complete-case analysis: train and test on the complete subjects only (incomplete test
               subjects get no prediction, so n is smaller);
  single-<m>   only the modality every subject has, all subjects;
  impute-<model>  all subjects, the missing map replaced by <model>'s out-of-fold synthesis (train and test).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pds_mri.domain import MODALITIES
from pds_mri.evaluation.diagnosis import FeatureTable, Protocol, Source, eligible

REAL = "real"


def _other(modality: str) -> str:
    return "dmri" if modality == "fmri" else "fmri"


def main_protocols(synth: str = "pds") -> list[Protocol]:
    real = {"fmri": REAL, "dmri": REAL}
    return [
        Protocol("real->real", "train real fMRI+dMRI, test real", real, real),
        Protocol(
            f"hybrid({synth} dMRI)->real",
            f"train real fMRI + {synth}-synthesised dMRI, test real",
            {"fmri": REAL, "dmri": synth},
            real,
        ),
        Protocol(
            f"hybrid({synth} fMRI)->real",
            f"train {synth}-synthesised fMRI + real dMRI, test real",
            {"fmri": synth, "dmri": REAL},
            real,
        ),
        Protocol(
            f"synthetic({synth})->real",
            f"train {synth}-synthesised fMRI and dMRI, test real",
            {"fmri": synth, "dmri": synth},
            real,
        ),
        Protocol(
            f"real->hybrid({synth} dMRI)",
            f"train real, test real fMRI + {synth}-synthesised dMRI",
            real,
            {"fmri": REAL, "dmri": synth},
        ),
        Protocol(
            f"real->hybrid({synth} fMRI)",
            f"train real, test {synth}-synthesised fMRI + real dMRI",
            real,
            {"fmri": synth, "dmri": REAL},
        ),
    ]


def choose_missing(ids: Sequence[str], y: Sequence[int], fraction: float, seed: int = 0) -> frozenset[str]:
    """round(fraction × n_c) subjects of each diagnosis class c, seeded: those that lack a modality."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(y)
    chosen: list[str] = []
    for c in sorted(set(labels.tolist())):
        members = sorted(s for s, yc in zip(ids, labels, strict=True) if yc == c)
        k = round(fraction * len(members))
        chosen += [members[i] for i in rng.choice(len(members), size=k, replace=False)]
    return frozenset(chosen)


def missing_protocols(missing: frozenset[str], complete: frozenset[str], imputers: Sequence[str]) -> list[Protocol]:
    out = []
    for lacking in MODALITIES:
        kept = _other(lacking)
        group = f"missing-{lacking}"
        real = {"fmri": REAL, "dmri": REAL}
        out.append(
            Protocol(
                f"{group}: drop",
                f"{len(missing)} subjects lack {lacking}: train and test on complete subjects only",
                real,
                real,
                train_subjects=complete,
                test_subjects=complete,
                group=group,
            )
        )
        out.append(
            Protocol(
                f"{group}: single-{kept}",
                f"{kept} features only, all subjects",
                {kept: REAL},
                {kept: REAL},
                group=group,
            )
        )
        for model in imputers:
            per_subject = {**{s: REAL for s in complete}, **{s: model for s in missing}}
            view: dict[str, Source] = {m: (REAL if m == kept else per_subject) for m in MODALITIES}
            out.append(
                Protocol(
                    f"{group}: impute-{model}",
                    f"missing {lacking} maps replaced by {model}'s out-of-fold synthesis (train and test)",
                    view,
                    view,
                    group=group,
                )
            )
    return out


def unavailable(
    table: FeatureTable, folds: Sequence[tuple[Sequence[str], Sequence[str]]], protocol: Protocol
) -> str | None:
    """Why `protocol` cannot be run on these folds (a subject it needs lacks a feature), or None."""
    for k, (train, test) in enumerate(folds):
        for part, subjects, view, only in (
            ("training", train, protocol.train, protocol.train_subjects),
            ("test", test, protocol.test, protocol.test_subjects),
        ):
            wanted = [s for s in subjects if only is None or s in only]
            have = eligible(table, wanted, view, None)
            if len(have) < len(wanted):
                lacking = sorted(set(wanted) - set(have))
                needs = sorted({f"{_src(view[m], lacking[0])} {m}" for m in view})
                return (
                    f"fold {k}: {len(lacking)} {part} subject(s) (e.g. {lacking[0]}) lack one of {needs} "
                    "(no out-of-fold synthesis for them)"
                )
    return None


def _src(source: object, subject: str) -> str:
    return source if isinstance(source, str) else str(source.get(subject))  # type: ignore[attr-defined]
