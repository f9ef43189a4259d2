"""Subject-level splits stratified by diagnosis.

Splits are over subjects, never over files or sessions, so that no subject's data is seen in training
and scored in test (the authors' code splits files). The ids split are rows (``sub-X``, or ``sub-X_ses-Y``
for a session row); `groups` names each row's participant, and all rows of a participant go to one set.
The split is a pure function of the sorted ids, their groups, diagnoses and the seed, and is written to
RUN_DIR/split.json for the record.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pds_mri.errors import InputError, PdsError
from pds_mri.io.atomic import write_json
from pds_mri.io.run_layout import RunDir

SPLIT_FILE = RunDir.SPLIT
SETS: tuple[str, str, str] = ("train", "val", "test")


def split_subjects(
    ids: Sequence[str],
    diagnoses: Sequence[int | str | None],
    fold: int = 0,
    folds: int = 5,
    seed: int = 0,
    val_fraction: float = 0.1,
    groups: Sequence[str] | None = None,
) -> dict[str, list[str]]:
    """{"train", "val", "test"} lists of row ids, each row in exactly one set and each group (participant)
    in exactly one set: with `groups`, the groups are split and every row follows its group.

    folds > 1: StratifiedKFold's fold `fold` is the test set; validation is a stratified share of the
    rest. folds == 1: no test set, a stratified train/val split. Unknown diagnoses form their own stratum;
    a group whose rows differ in diagnosis (a converter) is a stratum of its own ("MCI+AD"). Without
    `groups` every row is its own group (the split of a dataset without sessions).
    """
    if len(ids) != len(diagnoses):
        raise PdsError(f"{len(ids)} subject ids but {len(diagnoses)} diagnoses")
    if len(set(ids)) != len(ids):
        dup = sorted(i for i, c in Counter(ids).items() if c > 1)
        raise PdsError(f"duplicate subject id(s) {dup}: a split must be over distinct subjects")
    if groups is not None:
        return _split_groups(ids, diagnoses, groups, fold, folds, seed, val_fraction)
    if folds < 1:
        raise PdsError(f"folds must be >= 1, got {folds}")
    if not 0 <= fold < folds:
        raise PdsError(f"fold must be in 0..{folds - 1}, got {fold}")
    if not 0.0 <= val_fraction < 1.0:
        raise PdsError(f"val_fraction must be in [0, 1), got {val_fraction}")
    if folds > len(ids):
        raise PdsError(f"{folds} folds need at least {folds} subjects, got {len(ids)}")

    order = np.argsort(np.asarray(ids, dtype=object).astype(str), kind="stable")
    sorted_ids = [str(ids[i]) for i in order]
    strata = np.asarray([str(diagnoses[i]) for i in order])

    if folds > 1:
        from sklearn.model_selection import StratifiedKFold

        # StratifiedKFold needs every stratum to have >= folds members; fold rare strata into one.
        counts = {s: int((strata == s).sum()) for s in set(strata)}
        y = np.asarray([s if counts[s] >= folds else "__rare__" for s in strata])
        if int((y == "__rare__").sum()) and int((y == "__rare__").sum()) < folds:
            y = np.where(y == "__rare__", _majority(y), y)
        skf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        train_idx, test_idx = list(skf.split(np.zeros(len(y)), y))[fold]
    else:
        train_idx, test_idx = np.arange(len(sorted_ids)), np.asarray([], dtype=int)

    rest = [sorted_ids[i] for i in train_idx]
    rest_strata = [strata[i] for i in train_idx]
    val = _stratified_take(rest, rest_strata, val_fraction, seed + 1000 * fold)
    held = set(val)
    train = [s for s in rest if s not in held]
    return {"train": sorted(train), "val": sorted(val), "test": sorted(sorted_ids[i] for i in test_idx)}


def _split_groups(
    ids: Sequence[str],
    diagnoses: Sequence[int | str | None],
    groups: Sequence[str],
    fold: int,
    folds: int,
    seed: int,
    val_fraction: float,
) -> dict[str, list[str]]:
    """`split_subjects` over the groups, each group's rows then put in its group's set."""
    if len(groups) != len(ids):
        raise PdsError(f"{len(ids)} ids but {len(groups)} groups")
    members: dict[str, list[int]] = {}
    for i, g in enumerate(groups):
        members.setdefault(str(g), []).append(i)
    names = sorted(members)
    strata = ["+".join(sorted({str(diagnoses[i]) for i in members[g]})) for g in names]
    by_group = split_subjects(names, strata, fold, folds, seed, val_fraction)
    return {k: sorted(str(ids[i]) for g in by_group[k] for i in members[g]) for k in SETS}


def check_grouped(split: dict[str, list[str]], group_of: dict[str, str]) -> None:
    """No group (participant) has rows in two sets: the check a split read back (or a fold) must pass."""
    where: dict[str, str] = {}
    for name in SETS:
        for row in split.get(name, []):
            group = group_of.get(row, row)
            if where.setdefault(group, name) != name:
                raise PdsError(f"participant {group} has sessions in both '{where[group]}' and '{name}'")


def _majority(y: np.ndarray) -> str:
    values, counts = np.unique(y[y != "__rare__"], return_counts=True)
    return str(values[int(np.argmax(counts))]) if len(values) else "__rare__"


def _stratified_take(ids: list[str], strata: list[str], fraction: float, seed: int) -> list[str]:
    """Take round(fraction * n) ids (>= 1 when fraction > 0, leaving >= 1 behind), proportional per stratum.

    Each stratum's members are shuffled and spread evenly over [0, 1); taking the lowest keys gives
    every stratum its share even when the counts are tiny, where train_test_split would refuse.
    """
    n = len(ids)
    if fraction <= 0 or n < 2:
        return []
    n_take = min(n - 1, max(1, round(fraction * n)))
    rng = np.random.default_rng(seed)
    keys = np.empty(n)
    for stratum in sorted(set(strata)):
        members = [i for i, s in enumerate(strata) if s == stratum]
        offset = rng.random()
        for rank, i in enumerate(rng.permutation(members)):
            keys[i] = (rank + offset) / len(members)
    chosen = np.argsort(keys, kind="stable")[:n_take]
    return [ids[i] for i in chosen]


def write_split(
    run_dir: str | os.PathLike[str],
    split: dict[str, list[str]],
    **meta: Any,
) -> Path:
    """Write RUN_DIR/split.json (atomically), after checking the sets are disjoint."""
    check_disjoint(split)
    path = Path(run_dir) / SPLIT_FILE
    write_json(path, {**meta, **{k: list(split[k]) for k in SETS}})
    return path


def read_split(run_dir: str | os.PathLike[str]) -> dict[str, list[str]]:
    path = Path(run_dir) / SPLIT_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(path, "split file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InputError(path, "not valid JSON") from None
    if not isinstance(raw, dict) or any(not isinstance(raw.get(k), list) for k in SETS):
        raise InputError(path, f"expected lists {list(SETS)}")
    split = {k: [str(x) for x in raw[k]] for k in SETS}
    check_disjoint(split)
    return split


def check_disjoint(split: dict[str, list[str]]) -> None:
    for i, a in enumerate(SETS):
        for b in SETS[i + 1 :]:
            both = set(split.get(a, [])) & set(split.get(b, []))
            if both:
                raise PdsError(f"subject(s) {sorted(both)} are in both '{a}' and '{b}'")
