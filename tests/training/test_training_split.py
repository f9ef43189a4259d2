from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from pds_mri.errors import InputError, PdsError
from pds_mri.training.split import read_split, split_subjects, write_split

IDS = [f"sub-{i:02d}" for i in range(23)]
DX = ["NC"] * 10 + ["MCI"] * 7 + ["AD"] * 5 + [None]


@pytest.mark.parametrize("seed", [0, 7])
def test_kfold_every_subject_tested_once_and_never_in_two_sets(seed: int) -> None:
    folds = 5
    tested: Counter[str] = Counter()
    for fold in range(folds):
        s = split_subjects(IDS, DX, fold=fold, folds=folds, seed=seed, val_fraction=0.2)
        train, val, test = set(s["train"]), set(s["val"]), set(s["test"])
        assert not (train & val) and not (train & test) and not (val & test)
        assert train | val | test == set(IDS)
        assert val and test
        tested.update(test)
        # stratified: each diagnosis has its share in each test fold (the lone unknown joins NC)
        dx_of = dict(zip(IDS, DX, strict=True))
        counts = Counter(dx_of[i] for i in test)
        assert 2 <= counts["NC"] + counts[None] <= 3 and 1 <= counts["MCI"] <= 2 and counts["AD"] == 1
    assert set(tested) == set(IDS) and set(tested.values()) == {1}


def test_single_fold_is_a_stratified_train_val_split() -> None:
    s = split_subjects(IDS, DX, fold=0, folds=1, seed=3, val_fraction=0.25)
    assert s["test"] == []
    assert len(s["val"]) == round(0.25 * len(IDS))
    dx_of = dict(zip(IDS, DX, strict=True))
    assert {dx_of[i] for i in s["val"]} >= {"NC", "MCI", "AD"}
    assert set(s["train"]).isdisjoint(s["val"]) and set(s["train"]) | set(s["val"]) == set(IDS)


def test_split_is_deterministic_and_order_free() -> None:
    a = split_subjects(IDS, DX, fold=2, folds=5, seed=1)
    b = split_subjects(IDS[::-1], DX[::-1], fold=2, folds=5, seed=1)
    assert a == b
    assert split_subjects(IDS, DX, fold=2, folds=5, seed=2) != a


def test_rare_diagnosis_and_tiny_cohorts() -> None:
    s = split_subjects(["a", "b", "c", "d", "e", "f"], ["NC"] * 5 + ["AD"], fold=0, folds=3, seed=0)
    assert sum(len(v) for v in s.values()) == 6
    two = split_subjects(["a", "b"], ["NC", "AD"], fold=0, folds=1, seed=0, val_fraction=0.1)
    assert len(two["train"]) == 1 and len(two["val"]) == 1
    one = split_subjects(["a"], ["NC"], fold=0, folds=1, seed=0)
    assert one == {"train": ["a"], "val": [], "test": []}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fold": 5, "folds": 5}, "fold must be in 0..4"),
        ({"folds": 0}, "folds must be >= 1"),
        ({"val_fraction": 1.0}, "val_fraction"),
        ({"folds": 50}, "50 folds need at least 50 subjects"),
    ],
)
def test_invalid_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(PdsError, match=message):
        split_subjects(IDS, DX, **kwargs)


def test_duplicate_ids_refused() -> None:
    with pytest.raises(PdsError, match=r"duplicate subject id\(s\) \['a'\]"):
        split_subjects(["a", "a", "b"], ["NC", "NC", "AD"], folds=1)


def test_written_to_run_dir(tmp_path: Path) -> None:
    s = split_subjects(IDS, DX, fold=1, folds=5, seed=0)
    path = write_split(tmp_path, s, fold=1, folds=5, seed=0)
    assert path == tmp_path / "split.json"
    raw = json.loads(path.read_text())
    assert raw["fold"] == 1 and raw["folds"] == 5
    assert read_split(tmp_path) == s
    with pytest.raises(PdsError, match="in both 'train' and 'test'"):
        write_split(tmp_path, {"train": ["a"], "val": [], "test": ["a"]})
    (tmp_path / "split.json").write_text("{")
    with pytest.raises(InputError, match="not valid JSON"):
        read_split(tmp_path)


def test_two_sessions_of_one_subject_never_land_in_two_sets() -> None:
    """Rows are subject-sessions; `groups` (their participants) keep a subject's sessions in one set."""
    ids, groups, dx = [], [], []
    for i, d in enumerate(DX[:20]):
        for ses in ("ses-01", "ses-02") if i % 2 == 0 else ("ses-01",):
            ids.append(f"sub-{i:02d}_{ses}")
            groups.append(f"sub-{i:02d}")
            dx.append("AD" if (i == 4 and ses == "ses-02") else d)  # sub-04 converts: a stratum of its own
    owner = dict(zip(ids, groups, strict=True))
    tested: Counter[str] = Counter()
    for fold in range(5):
        s = split_subjects(ids, dx, fold=fold, folds=5, seed=1, val_fraction=0.2, groups=groups)
        sets = {name: {owner[r] for r in rows} for name, rows in s.items()}
        assert not (sets["train"] & sets["val"]) and not (sets["train"] & sets["test"])
        assert not (sets["val"] & sets["test"])
        assert sorted(s["train"] + s["val"] + s["test"]) == sorted(ids)
        tested.update(sets["test"])
    assert set(tested) == set(groups) and set(tested.values()) == {1}
    # without sessions (every row its own group) the split is the one it always was
    plain = split_subjects(IDS, DX, fold=2, folds=5, seed=4, val_fraction=0.2)
    assert split_subjects(IDS, DX, fold=2, folds=5, seed=4, val_fraction=0.2, groups=IDS) == plain


def test_check_grouped_refuses_a_subject_in_two_sets() -> None:
    from pds_mri.training.split import check_grouped

    group_of = {"sub-01_ses-01": "sub-01", "sub-01_ses-02": "sub-01", "sub-02": "sub-02"}
    check_grouped({"train": ["sub-01_ses-01", "sub-01_ses-02"], "test": ["sub-02"]}, group_of)
    with pytest.raises(PdsError, match="participant sub-01 has sessions in both 'train' and 'test'"):
        check_grouped({"train": ["sub-01_ses-01"], "test": ["sub-01_ses-02", "sub-02"]}, group_of)
