"""The demo scores subjects no training step saw: its held-out subjects are the split's test set."""

from __future__ import annotations

import pytest

from pds_mri.errors import PdsError
from pds_mri.training.split import split_subjects
from pds_mri.workflows.demo import DEMO_FOLDS, held_out_subjects


def test_held_out_subjects_are_the_test_set_never_the_validation_subject() -> None:
    ids = [f"sub-{i:03d}" for i in range(1, 10)]  # the demo's 12 simulated subjects keep about 9 paired
    split = split_subjects(ids, ["NC", "MCI", "AD"] * 3, fold=0, folds=DEMO_FOLDS, seed=0, val_fraction=0.1)
    held = held_out_subjects(split)
    assert held == tuple(split["test"]) and held
    assert not set(held) & (set(split["train"]) | set(split["val"]))


def test_a_split_without_a_test_set_is_refused() -> None:
    with pytest.raises(PdsError, match="no test subject"):
        held_out_subjects({"train": ["sub-1", "sub-2"], "val": ["sub-3"], "test": []})
    with pytest.raises(PdsError, match="also in training"):
        held_out_subjects({"train": ["sub-1"], "val": ["sub-3"], "test": ["sub-3"]})
