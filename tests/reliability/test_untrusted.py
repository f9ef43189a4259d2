"""Untrusted checkpoints: pickle payloads are refused before anything is unpickled, tampered or damaged
checkpoints are one-line errors, and no recorded path can point outside the checkpoint."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import zipfile
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pds_mri.errors import PdsError
from pds_mri.training import checkpoint as ckpt

from ._helpers import assert_one_line_error
from ._toy_train import make_trainer, trainer_cfg

FUZZ = settings(
    max_examples=int(os.environ.get("PDS_FUZZ_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


class _Payload:
    """Unpickling this creates a marker file: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Path.touch, (self.marker,))


@pytest.fixture(scope="module")
def good_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    run = tmp_path_factory.mktemp("untrusted") / "run"
    make_trainer(run, trainer_cfg(steps=2, keep_checkpoints=0)).train()
    return run


def _copy_run(good_run: Path, tmp_path: Path) -> Path:
    run = tmp_path / "run"
    shutil.copytree(good_run, run)
    return run


def _pickle_bytes(marker: Path, kind: str) -> bytes:
    payload = {"model.weight": _Payload(marker)}
    if kind == "torch-zip":
        import io

        buf = io.BytesIO()
        torch.save(payload, buf)
        return buf.getvalue()
    protocol = {"pickle-p2": 2, "pickle-p4": 4, "pickle-p5": 5}[kind]
    return pickle.dumps(payload, protocol=protocol)


@pytest.mark.parametrize("kind", ["torch-zip", "pickle-p2", "pickle-p4", "pickle-p5"])
@pytest.mark.parametrize("where", ["as-tensors-file", "extra-model.pt", "as-state-json", "renamed.bin"])
def test_pickle_payloads_are_refused_and_never_run(good_run: Path, tmp_path: Path, kind: str, where: str) -> None:
    run = _copy_run(good_run, tmp_path)
    last = run / "checkpoints/last"
    marker = tmp_path / "PWNED"
    blob = _pickle_bytes(marker, kind)
    target = {
        "as-tensors-file": last / ckpt.TENSORS_FILE,
        "extra-model.pt": last / "model.pt",
        "as-state-json": last / ckpt.STATE_FILE,
        "renamed.bin": last / "weights.bin",
    }[where]
    target.write_bytes(blob)
    with pytest.raises(PdsError) as info:
        ckpt.load_checkpoint(last)
    assert_one_line_error(info.value)
    with pytest.raises(PdsError) as info:
        make_trainer(run, trainer_cfg(steps=2, keep_checkpoints=0)).train(resume=True)
    assert_one_line_error(info.value)
    assert not marker.exists(), "a pickle payload was executed"


def test_a_torch_zip_hidden_under_another_name_is_refused(good_run: Path, tmp_path: Path) -> None:
    run = _copy_run(good_run, tmp_path)
    last = run / "checkpoints/last"
    with zipfile.ZipFile(last / "notes.txt", "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps({"x": 1}))
    with pytest.raises(PdsError) as info:
        ckpt.load_checkpoint(last)
    assert_one_line_error(info.value)


@pytest.mark.parametrize(
    "tensors_file", ["../../../../etc/passwd", "/etc/passwd", "..", "sub/../../state.json", "", "tensors.pt"]
)
def test_the_recorded_tensors_file_cannot_point_outside_the_checkpoint(
    good_run: Path, tmp_path: Path, tensors_file: str
) -> None:
    run = _copy_run(good_run, tmp_path)
    state_path = run / "checkpoints/last" / ckpt.STATE_FILE
    state = json.loads(state_path.read_text())
    state["tensors_file"] = tensors_file
    state_path.write_text(json.dumps(state))
    with pytest.raises(PdsError) as info:
        ckpt.load_checkpoint(run / "checkpoints/last")
    assert_one_line_error(info.value)


json_junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True),
    st.text(max_size=6),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
STATE_KEYS = [
    "format",
    "format_version",
    "tensors_bytes",
    "tensors_sha256",
    "trainer",
    "scheduler",
    "optimizer",
    "rng",
    "trainer_config",
]


@FUZZ
@given(edits=st.lists(st.tuples(st.sampled_from(STATE_KEYS), st.one_of(json_junk, st.just("<delete>"))), max_size=3))
def test_tampered_state_json_is_refused_with_one_line(good_run: Path, tmp_path: Path, edits) -> None:
    run = tmp_path / "run"
    shutil.rmtree(run, ignore_errors=True)
    shutil.copytree(good_run, run)
    state_path = run / "checkpoints/last" / ckpt.STATE_FILE
    state = json.loads(state_path.read_text())
    for key, value in edits:
        if value == "<delete>":
            state.pop(key, None)
        else:
            state[key] = value
    state_path.write_text(json.dumps(state))
    try:
        make_trainer(run, trainer_cfg(steps=3, keep_checkpoints=0)).train(resume=True)
    except PdsError as exc:
        assert_one_line_error(exc)
    except Exception as exc:
        pytest.fail(f"{type(exc).__name__} escaped resume from a tampered state.json: {exc}")


@FUZZ
@given(where=st.floats(0, 1, exclude_max=True), mode=st.sampled_from(["flip", "truncate", "append"]))
def test_damaged_tensors_are_refused_with_one_line(good_run: Path, tmp_path: Path, where: float, mode: str) -> None:
    run = tmp_path / "run"
    shutil.rmtree(run, ignore_errors=True)
    shutil.copytree(good_run, run)
    path = run / "checkpoints/last" / ckpt.TENSORS_FILE
    blob = bytearray(path.read_bytes())
    i = int(where * len(blob))
    if mode == "flip":
        blob[i] ^= 0x40
    elif mode == "truncate":
        del blob[i:]
    else:
        blob += b"\x00" * (i % 64 + 1)
    path.write_bytes(bytes(blob))
    with pytest.raises(PdsError) as info:
        ckpt.load_checkpoint(path.parent)
    assert_one_line_error(info.value)
