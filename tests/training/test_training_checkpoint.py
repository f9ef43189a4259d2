from __future__ import annotations

import json
import os
import pickle
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from pds_mri.errors import PdsError
from pds_mri.training import checkpoint as ckpt


def _tensors(scale: float = 1.0) -> dict[str, torch.Tensor]:
    return {
        "model.w": torch.arange(12, dtype=torch.float32).reshape(3, 4) * scale,
        "model.h": torch.ones(2, dtype=torch.bfloat16),
        "optimizer.state.0.step": torch.tensor(3.0),
        "ema.num_updates": torch.tensor(7, dtype=torch.int64),
        "rng.torch_cpu": torch.get_rng_state(),
    }


def _save(directory: Path, scale: float = 1.0, **state) -> str:
    return ckpt.save_checkpoint(directory, _tensors(scale), {"trainer": {"step": 5, "best": float("-inf")}, **state})


def test_round_trip_tensors_and_state(tmp_path: Path) -> None:
    d = tmp_path / "checkpoints" / "last"
    sha = _save(d, config={"grid": (8, 8, 6)})
    assert sorted(p.name for p in d.iterdir()) == [ckpt.STATE_FILE, ckpt.TENSORS_FILE]
    c = ckpt.load_checkpoint(d)
    for k, v in _tensors().items():
        assert torch.equal(c.tensors[k], v) and c.tensors[k].dtype == v.dtype
    assert c.state["trainer"] == {"step": 5, "best": float("-inf")}
    assert c.state["config"] == {"grid": [8, 8, 6]}
    assert c.sha256 == sha == ckpt.checkpoint_hash(d) == c.state["tensors_sha256"]
    assert c.group("model").keys() == {"w", "h"}


def test_rng_capture_and_restore() -> None:
    tensors, meta = ckpt.capture_rng()
    json.dumps(meta)  # JSON-able
    first = (torch.rand(3), random.random(), np.random.rand(2))
    ckpt.restore_rng(tensors, json.loads(json.dumps(meta)))
    second = (torch.rand(3), random.random(), np.random.rand(2))
    assert torch.equal(first[0], second[0]) and first[1] == second[1] and np.array_equal(first[2], second[2])


def test_optimizer_pack_round_trip() -> None:
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model(torch.ones(4, 3)).sum().backward()
    opt.step()
    tensors, meta = ckpt.pack_optimizer(opt.state_dict())
    meta = json.loads(json.dumps(meta))
    opt2 = torch.optim.AdamW(torch.nn.Linear(3, 2).parameters(), lr=5.0)
    opt2.load_state_dict(ckpt.unpack_optimizer(tensors, meta))
    a, b = opt.state_dict(), opt2.state_dict()
    assert a["param_groups"] == b["param_groups"]
    for pid in a["state"]:
        for k in a["state"][pid]:
            assert torch.equal(a["state"][pid][k], b["state"][pid][k])


def test_torch_load_is_never_called(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _save(tmp_path / "c")

    def boom(*a, **k):
        raise AssertionError("torch.load called")

    monkeypatch.setattr(torch, "load", boom)
    ckpt.load_checkpoint(tmp_path / "c")


@pytest.mark.parametrize(
    "writer",
    [
        lambda d: torch.save({"w": torch.ones(2)}, d / "model.pt"),  # by extension
        lambda d: torch.save({"w": torch.ones(2)}, d / "weights"),  # zip magic, no extension
        lambda d: (d / "extra").write_bytes(pickle.dumps({"a": 1})),  # pickle protocol 5
        lambda d: (d / "old.pkl").write_bytes(b"(dp0\n."),  # protocol 0, caught by its extension
        lambda d: (d / ckpt.TENSORS_FILE).write_bytes(pickle.dumps({"w": [1.0]}, protocol=2)),
    ],
)
def test_pickle_checkpoints_are_refused(tmp_path: Path, writer) -> None:
    d = tmp_path / "checkpoints" / "last"
    _save(d)
    writer(d)
    with pytest.raises(PdsError, match="refusing to load a pickle checkpoint"):
        ckpt.load_checkpoint(d)


def test_safetensors_header_starting_like_a_pickle_is_not_refused(tmp_path: Path) -> None:
    head = (0x280).to_bytes(8, "little") + b"{" + b" " * 0x27F  # first byte 0x80, then 0x02
    (tmp_path / "x.safetensors").write_bytes(head + b"\x00" * 16)
    ckpt.refuse_pickles(tmp_path)


def test_corrupted_and_truncated_checkpoints(tmp_path: Path) -> None:
    good = tmp_path / "checkpoints" / "step-000004"
    last = tmp_path / "checkpoints" / "last"
    ckpt.save_checkpoint(good, _tensors(), {}, aliases=[last])
    data = bytearray((last / ckpt.TENSORS_FILE).read_bytes())
    data[-3] ^= 0xFF
    (last / ckpt.TENSORS_FILE).write_bytes(bytes(data))
    with pytest.raises(PdsError, match=r"checkpoint corrupted \(hash mismatch\)"):
        ckpt.load_checkpoint(last)
    (last / ckpt.TENSORS_FILE).write_bytes(bytes(data[:100]))
    with pytest.raises(PdsError, match=r"checkpoint truncated \(100 of \d+ bytes\)"):
        ckpt.load_checkpoint(last)
    (last / ckpt.STATE_FILE).write_text('{"format": "pds-mri-checkpoint", "tens')
    with pytest.raises(PdsError, match=r"state\.json is not valid JSON"):
        ckpt.load_checkpoint(last)
    assert torch.equal(ckpt.load_checkpoint(good).tensors["model.w"], _tensors()["model.w"])
    assert ckpt.list_checkpoints(tmp_path) == [good]


def test_kill_during_save_keeps_previous_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    last = tmp_path / "checkpoints" / "last"
    _save(last, scale=1.0)
    calls = {"n": 0}
    real_fsync = os.fsync

    def dying_fsync(fd: int) -> None:  # dies after the new tensors file is half-way to disk
        calls["n"] += 1
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", dying_fsync)
    with pytest.raises(KeyboardInterrupt):
        _save(last, scale=2.0)
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert calls["n"] == 1
    assert torch.equal(ckpt.load_checkpoint(last).tensors["model.w"], _tensors(1.0)["model.w"])
    assert [p.name for p in last.parent.iterdir()] == ["last"]  # no temporary directory left


def test_kill_between_the_two_renames_is_recovered(tmp_path: Path) -> None:
    last = tmp_path / "checkpoints" / "last"
    _save(last)
    os.replace(last, last.parent / ".last.old-deadbeef")  # state right after the first rename
    assert torch.equal(ckpt.load_checkpoint(last).tensors["model.w"], _tensors()["model.w"])
    _save(last, scale=3.0)  # and a later save goes through normally
    assert torch.equal(ckpt.load_checkpoint(last).tensors["model.w"], _tensors(3.0)["model.w"])
    assert [p.name for p in last.parent.iterdir()] == ["last"]


def test_missing_checkpoint_and_non_json_state(tmp_path: Path) -> None:
    with pytest.raises(PdsError, match="checkpoint not found"):
        ckpt.load_checkpoint(tmp_path / "nope")
    with pytest.raises(PdsError, match="not JSON"):
        ckpt.save_checkpoint(tmp_path / "x", _tensors(), {"bad": object()})
