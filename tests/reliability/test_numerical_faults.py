"""NaN/Inf during training: a bad batch or a too-high learning rate is detected, the step is skipped or
the run stops with one clear message, and the last good checkpoint stays loadable and finite."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pds_mri.errors import PdsError
from pds_mri.training import checkpoint as ckpt

from ._helpers import assert_one_line_error
from ._toy_train import ToyData, make_trainer, trainer_cfg


def _finite_weights(directory: Path) -> bool:
    c = ckpt.load_checkpoint(directory)
    return all(torch.isfinite(v).all() for k, v in c.tensors.items() if k.startswith(("model.", "ema.")))


def test_a_nan_batch_is_skipped_without_touching_the_weights(tmp_path: Path) -> None:
    data = ToyData(n=8, bad=frozenset({3}))
    trainer = make_trainer(tmp_path / "run", trainer_cfg(steps=8, batch_size=1), data)
    result = trainer.train()
    assert result.step == 8 and 1 <= result.skipped_steps < 8
    assert _finite_weights(tmp_path / "run/checkpoints/last")
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())


def test_consecutive_nan_steps_stop_with_one_line_and_keep_the_last_good_checkpoint(tmp_path: Path) -> None:
    data = ToyData(n=4, bad=frozenset({0, 1, 2, 3}))  # from some point every batch is bad
    good = make_trainer(tmp_path / "run", trainer_cfg(steps=10, batch_size=1))
    good.train(stop_at=3)
    ref = ckpt.load_checkpoint(tmp_path / "run/checkpoints/last")
    bad = make_trainer(tmp_path / "run", trainer_cfg(steps=10, batch_size=1, max_bad_steps=3), data)
    with pytest.raises(PdsError) as info:
        bad.train(resume=True)
    assert_one_line_error(info.value)
    assert "non-finite" in str(info.value) and "3 consecutive" in str(info.value)
    last = tmp_path / "run/checkpoints/last"
    assert _finite_weights(last)
    # Skipped steps do not change the weights: what is saved equals the last good weights.
    c = ckpt.load_checkpoint(last)
    assert c.state["trainer"]["step"] > 3 and c.state["trainer"]["consecutive_bad"] < 3
    for k in ref.tensors:
        if k.startswith(("model.", "ema.")):
            assert torch.equal(c.tensors[k], ref.tensors[k]), k


def test_a_non_finite_gradient_is_skipped(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path / "run", trainer_cfg(steps=4, batch_size=1))
    calls = {"n": 0}

    def poison(grad: torch.Tensor) -> torch.Tensor:
        calls["n"] += 1
        return grad * float("inf") if calls["n"] in (2, 3) else grad

    first = next(p for p in trainer.model.parameters() if p.requires_grad)
    first.register_hook(poison)
    result = trainer.train()
    assert result.skipped_steps == 2 and result.step == 4
    assert _finite_weights(tmp_path / "run/checkpoints/last")


def test_a_learning_rate_that_blows_up_never_saves_non_finite_weights(tmp_path: Path) -> None:
    """lr = 1e30: the weights overflow within a few steps; training must stop, not checkpoint infinities."""
    cfg = trainer_cfg(steps=10, batch_size=2, lr=1e30, warmup_steps=0, grad_clip=0.0, max_bad_steps=2)
    trainer = make_trainer(tmp_path / "run", cfg)
    try:
        trainer.train()
    except PdsError as exc:
        assert_one_line_error(exc)
    for directory in (tmp_path / "run/checkpoints").iterdir():
        if directory.is_dir() and not directory.name.startswith("."):
            assert _finite_weights(directory), f"{directory.name} holds non-finite weights"
