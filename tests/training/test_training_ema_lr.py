from __future__ import annotations

import json
import math

import pytest
import torch
from _training_helpers import TinyNet
from safetensors.torch import load, save

from pds_mri.errors import PdsError
from pds_mri.training.distributed import DistInfo, init_distributed, shard
from pds_mri.training.ema import EMA
from pds_mri.training.lr import WarmupCosine, warmup_cosine


def _perturb(model: torch.nn.Module, value: float) -> None:
    with torch.no_grad():
        for p in model.parameters():
            p.add_(value)


def test_ema_update_follows_the_formula_with_warmup() -> None:
    torch.manual_seed(0)
    model = TinyNet()
    ema = EMA(model, decay=0.9)
    start = model.conv1.weight.detach().clone()
    assert ema.current_decay() == pytest.approx(0.1)  # (1+0)/(10+0)
    _perturb(model, 1.0)
    ema.update(model)
    expected = 0.1 * start + 0.9 * model.conv1.weight.detach()
    torch.testing.assert_close(ema.shadow["conv1.weight"], expected)
    ema.num_updates = 1000
    assert ema.current_decay() == 0.9
    assert EMA(model, 0.5, warmup=False).current_decay() == 0.5
    with pytest.raises(PdsError, match="decay"):
        EMA(model, 1.5)


def test_ema_state_round_trips_through_safetensors() -> None:
    model = TinyNet()
    ema = EMA(model, 0.99)
    _perturb(model, 0.5)
    for _ in range(3):
        ema.update(model)
    restored = EMA(TinyNet(), 0.99)
    restored.load_state_dict(load(save(ema.state_dict())))
    assert restored.num_updates == 3
    assert all(torch.equal(restored.shadow[k], v) for k, v in ema.shadow.items())
    with pytest.raises(PdsError, match="does not match the model"):
        restored.load_state_dict({"num_updates": torch.tensor(0)})


def test_ema_swap_restores_training_weights_exactly() -> None:
    model = TinyNet()
    ema = EMA(model, 0.9)
    _perturb(model, 1.0)
    ema.update(model)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with ema.swap(model) as m:
        assert torch.equal(m.conv1.weight, ema.shadow["conv1.weight"])
    assert all(torch.equal(model.state_dict()[k], v) for k, v in before.items())
    ema.copy_to(model)
    assert torch.equal(model.conv1.weight, ema.shadow["conv1.weight"])


def test_warmup_then_cosine() -> None:
    f = WarmupCosine(warmup_steps=4, total_steps=14, min_ratio=0.1)
    assert [f(s) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert f(4) == pytest.approx(1.0)
    assert f(9) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert f(14) == pytest.approx(0.1) and f(100) == pytest.approx(0.1)
    assert WarmupCosine(0, 10)(0) == 1.0
    with pytest.raises(PdsError, match="warmup_steps"):
        WarmupCosine(20, 10)


def test_scheduler_state_is_json_and_resumes_identically() -> None:
    def make() -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
        opt = torch.optim.AdamW(torch.nn.Linear(2, 2).parameters(), lr=1e-3)
        return opt, warmup_cosine(opt, 3, 10)

    opt, sched = make()
    for _ in range(5):
        opt.step()
        sched.step()
    state = json.loads(json.dumps(sched.state_dict()))
    opt2, sched2 = make()
    opt2.load_state_dict(opt.state_dict())
    sched2.load_state_dict(state)
    for _ in range(5):
        for o, s in ((opt, sched), (opt2, sched2)):
            o.step()
            s.step()
        assert sched.get_last_lr() == sched2.get_last_lr()


def test_shard_is_disjoint_and_complete() -> None:
    items = list(range(11))
    parts = [shard(items, r, 3) for r in range(3)]
    assert parts[0] == [0, 3, 6, 9] and sorted(i for part in parts for i in part) == items
    with pytest.raises(PdsError, match="invalid shard"):
        shard(items, 3, 3)


def test_init_distributed_single_process(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    info = init_distributed(device="cpu")
    assert info == DistInfo() and not info.distributed and info.is_main
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(PdsError, match="WORLD_SIZE"):
        init_distributed(device="cpu")


def test_ema_state_of_another_dtype_kind_is_refused_not_cast() -> None:
    """#16 H: int64 tensors in place of float weights were cast silently into the model."""
    net = torch.nn.Linear(3, 2)
    ema = EMA(net)
    state = ema.state_dict()
    state["shadow.weight"] = torch.ones(2, 3, dtype=torch.int64)
    with pytest.raises(PdsError, match="int64"):
        EMA(net).load_state_dict(state)
