from __future__ import annotations

import csv
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from _training_helpers import PairDataset, TinyNet, loss_fn

from pds_mri.errors import PdsError
from pds_mri.training import checkpoint as ckpt
from pds_mri.training.config import TrainerConfig, trainer_config
from pds_mri.training.distributed import DistInfo
from pds_mri.training.trainer import StepBatchSampler, Trainer

CFG = TrainerConfig(
    steps=12,
    batch_size=3,
    lr=5e-3,
    warmup_steps=3,
    checkpoint_every=4,
    validate_every=5,
    log_every=2,
    ema_decay=0.9,
    tensorboard=False,
    progress=False,
    keep_checkpoints=2,
)


def cfg_with(**changes: Any) -> TrainerConfig:
    """CFG with changes, validated (model_copy(update=...) would skip validation)."""
    return TrainerConfig(**{**CFG.model_dump(), **changes})


def validate(model: torch.nn.Module, step: int) -> dict[str, float]:
    """A PSNR-like score on two items; it draws from the global RNG, which must not leak into training."""
    torch.rand(5)
    ds = PairDataset(4)
    mse = float(((model(ds.x[:2]) - ds.y[:2]) ** 2).mean())
    return {"psnr": -10.0 * np.log10(mse), "mse": mse}


def make(run_dir: Path, cfg: TrainerConfig = CFG, init_seed: int = 0, **kw: Any) -> Trainer:
    torch.manual_seed(init_seed)
    return Trainer(
        TinyNet(),
        kw.pop("loss", loss_fn),
        PairDataset(10),
        run_dir,
        cfg,
        kw.pop("validate_fn", validate),
        DistInfo(),
        run_config={"model": "tiny"},
        **kw,
    )


def state_of(t: Trainer) -> dict[str, torch.Tensor]:
    out = {f"model.{k}": v for k, v in t.model.state_dict().items()}
    out.update({f"ema.{k}": v for k, v in t.ema.shadow.items()})
    for pid, st in t.optimizer.state_dict()["state"].items():
        out.update({f"opt.{pid}.{k}": v for k, v in st.items()})
    return out


def assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def losses(run_dir: Path) -> list[tuple[str, str]]:
    with (run_dir / "logs" / "train.csv").open() as fh:
        return [(r["step"], r["loss"]) for r in csv.DictReader(fh)]


def test_resume_is_bit_identical_to_uninterrupted(tmp_path: Path) -> None:
    full = make(tmp_path / "a")
    res_full = full.train()
    assert res_full.step == 12

    first = make(tmp_path / "b")
    assert first.train(stop_at=6).step == 6
    # "kill": a fresh process would start from different RNG states and a different model init
    torch.manual_seed(999), random.seed(999), np.random.seed(999)
    second = make(tmp_path / "b", init_seed=42)
    res = second.train(resume=True)
    assert res.step == 12
    assert_same(state_of(full), state_of(second))
    assert second.scheduler.get_last_lr() == full.scheduler.get_last_lr()
    assert (res.best_metric, res.best_step) == (res_full.best_metric, res_full.best_step)
    assert losses(tmp_path / "a") == losses(tmp_path / "b")
    assert [r["step"] for r in csv.DictReader((tmp_path / "b/logs/val.csv").open())] == ["5", "10", "12"]
    # keep_checkpoints=2: step-000004 pruned; last, best, two step dirs remain
    names = sorted(p.name for p in (tmp_path / "b/checkpoints").iterdir())
    assert names == ["best", "last", "step-000008", "step-000012"]
    state = ckpt.load_checkpoint(tmp_path / "b/checkpoints/last").state
    assert state["trainer"]["step"] == 12 and state["config"] == {"model": "tiny"}
    assert state["trainer_config"]["steps"] == 12


def test_same_seed_same_weights_other_seed_differs(tmp_path: Path) -> None:
    cfg = cfg_with(steps=4, validate_every=0, checkpoint_every=0)
    a, b = make(tmp_path / "a", cfg), make(tmp_path / "b", cfg)
    a.train(), b.train()
    assert_same(state_of(a), state_of(b))
    c = make(tmp_path / "c", cfg_with(steps=4, validate_every=0, checkpoint_every=0, seed=1))
    c.train()
    assert not torch.equal(a.model.conv1.weight, c.model.conv1.weight)


def test_training_reduces_the_loss(tmp_path: Path) -> None:
    cfg = cfg_with(steps=30, lr=3e-2, validate_every=0, checkpoint_every=0, log_every=5)
    make(tmp_path, cfg, validate_fn=None).train()
    rows = losses(tmp_path)
    assert float(rows[-1][1]) < 0.7 * float(rows[0][1])


def test_non_finite_steps_are_skipped_then_stop(tmp_path: Path) -> None:
    calls = {"n": 0}

    def flaky(model: torch.nn.Module, batch: dict, gen: torch.Generator) -> dict[str, torch.Tensor]:
        calls["n"] += 1
        out = loss_fn(model, batch, gen)
        if calls["n"] in (3, 4):
            out["loss"] = out["loss"] * float("nan")
        return out

    cfg = cfg_with(steps=6, validate_every=0)
    t = make(tmp_path / "a", cfg, loss=flaky)
    res = t.train()
    assert res.skipped_steps == 2 and res.step == 6 and t.ema.num_updates == 4
    rows = list(csv.DictReader((tmp_path / "a/logs/train.csv").open()))
    assert [r["skipped"] for r in rows] == ["0", "2", "2"]

    def always_nan(model: torch.nn.Module, batch: dict, gen: torch.Generator) -> dict[str, torch.Tensor]:
        return {"loss": loss_fn(model, batch, gen)["loss"] * float("inf")}

    t2 = make(tmp_path / "b", cfg_with(steps=6, validate_every=0, max_bad_steps=3), loss=always_nan)
    w0 = t2.model.conv1.weight.detach().clone()
    with pytest.raises(PdsError, match="training stopped at step 3: 3 consecutive steps had a non-finite loss"):
        t2.train()
    assert torch.equal(t2.model.conv1.weight, w0)


def test_best_checkpoint_follows_the_metric(tmp_path: Path) -> None:
    scores = iter([1.0, 3.0, 2.0])
    cfg = cfg_with(steps=6, validate_every=2, checkpoint_every=0)
    res = make(tmp_path, cfg, validate_fn=lambda m, s: next(scores)).train()
    assert (res.best_metric, res.best_step) == (3.0, 4)
    assert ckpt.load_checkpoint(tmp_path / "checkpoints/best").state["trainer"]["step"] == 4


def test_refuses_to_overwrite_or_resume_nothing(tmp_path: Path) -> None:
    cfg = cfg_with(steps=2, warmup_steps=1, validate_every=0)
    with pytest.raises(PdsError, match="nothing to resume"):
        make(tmp_path, cfg).train(resume=True)
    make(tmp_path, cfg).train()
    with pytest.raises(PdsError, match="already holds a training run"):
        make(tmp_path, cfg).train()
    with pytest.raises(PdsError, match=r"trainer config changed in \['lr'\]"):
        make(tmp_path, cfg_with(steps=2, warmup_steps=1, validate_every=0, lr=1.0)).train(resume=True)


def test_resume_from_corrupted_last_names_earlier_checkpoints(tmp_path: Path) -> None:
    cfg = cfg_with(steps=6, validate_every=0, checkpoint_every=2)
    make(tmp_path, cfg).train(stop_at=5)
    f = tmp_path / "checkpoints/last" / ckpt.TENSORS_FILE
    f.write_bytes(f.read_bytes()[:-10])
    with pytest.raises(PdsError, match=r"checkpoint truncated .*earlier checkpoints.*: step-000002, step-000004"):
        make(tmp_path, cfg).train(resume=True)
    resumed = make(tmp_path, cfg)
    assert resumed.train(resume=True, resume_from="step-000004").step == 6
    full = make(tmp_path / "full", cfg)
    full.train()
    assert_same(state_of(full), state_of(resumed))


def test_tensorboard_and_csv_logs(tmp_path: Path) -> None:
    cfg = cfg_with(steps=4, validate_every=2, tensorboard=True)
    make(tmp_path, cfg).train()
    rows = list(csv.DictReader((tmp_path / "logs/train.csv").open()))
    assert [r["step"] for r in rows] == ["2", "4"]
    assert {"loss", "mse", "lr", "seconds", "grad_norm", "skipped"} <= rows[0].keys()
    assert list((tmp_path / "logs/tensorboard").glob("events.out.tfevents.*"))


def test_step_batch_sampler_is_a_function_of_step() -> None:
    s = StepBatchSampler(n=7, batch_size=2, seed=0, rank=0, world=1, start=0, stop=7)
    batches = list(s)
    # every epoch (7 items) is a permutation
    flat = [i for b in batches for i in b]
    assert sorted(flat[:7]) == list(range(7)) and sorted(flat[7:14]) == list(range(7))
    resumed = StepBatchSampler(n=7, batch_size=2, seed=0, rank=0, world=1, start=3, stop=7)
    assert list(resumed) == batches[3:]
    r0 = StepBatchSampler(7, 2, 0, 0, 2, 0, 3)
    r1 = StepBatchSampler(7, 2, 0, 1, 2, 0, 3)
    assert [a + b for a, b in zip(r0, r1, strict=True)] == [flat[0:4], flat[4:8], flat[8:12]]


def test_config_errors_name_the_field() -> None:
    with pytest.raises(PdsError, match="invalid trainer config field 'lrate'"):
        trainer_config({"lrate": 1})
    with pytest.raises(PdsError, match="field 'steps'"):
        trainer_config({"steps": 0})
    with pytest.raises(PdsError, match="warmup_steps"):
        trainer_config({"steps": 5, "warmup_steps": 10})


def test_progress_bar_and_finished_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Trainer, "_bar_enabled", lambda self: True)  # as on a terminal
    cfg = cfg_with(steps=3, warmup_steps=1, validate_every=0)
    assert make(tmp_path, cfg).train().step == 3
    again = make(tmp_path, cfg).train(resume=True)  # already complete: nothing redone
    assert again.step == 3


def test_loss_must_be_a_scalar(tmp_path: Path) -> None:
    def per_voxel(model: torch.nn.Module, batch: dict, gen: torch.Generator) -> dict[str, torch.Tensor]:
        return {"loss": (model(batch["x"]) - batch["y"]).abs()}

    with pytest.raises(PdsError, match="must be a scalar tensor"):
        make(tmp_path, cfg_with(steps=2, warmup_steps=1), loss=per_voxel).train()


def test_a_step_reads_the_device_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every float()/bool()/.item()/.tolist() of a tensor waits for a GPU: the trainer's own step makes one
    (loss, gradient norm and logged terms together); it made four here (and ~10 for PDS) before. The
    optimiser's reads of its CPU step counters are not device reads and are left out."""
    import sys

    reads: list[str] = []
    active = {"on": False}
    for name in ("item", "tolist", "__float__", "__bool__", "__int__"):
        original = getattr(torch.Tensor, name)

        def counting(self: torch.Tensor, *args: Any, _original: Any = original, _name: str = name) -> Any:
            if active["on"] and "torch/optim" not in sys._getframe(1).f_code.co_filename.replace("\\", "/"):
                reads.append(_name)
            return _original(self, *args)

        monkeypatch.setattr(torch.Tensor, name, counting)
    step = Trainer._train_step

    def counted(self: Trainer, batch: Any) -> Any:
        active["on"] = True
        try:
            return step(self, batch)
        finally:
            active["on"] = False

    monkeypatch.setattr(Trainer, "_train_step", counted)
    make(tmp_path, cfg_with(steps=4, validate_every=0, checkpoint_every=0), validate_fn=None).train()
    assert reads == ["tolist"] * 4
