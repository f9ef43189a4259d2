"""Shared helpers of the reliability suite: the tool's error contract, a hang guard, the tiny config."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from pds_mri.errors import InputError, PdsError
from tiny_setup import tiny_config

REPO = Path(__file__).resolve().parents[2]

#: Tiny grids and model (as tests/workflows/test_train_synthesize.py), checkpointing every step.
TINY = tiny_config(stage1_steps=4, stage2_steps=2, checkpoint_every=1, keep_checkpoints=2, tensorboard=False)


def assert_one_line_error(exc: BaseException, path: Path | str | None = None) -> None:
    """The tool's contract for bad input: its own error type, one line, naming the file."""
    assert isinstance(exc, PdsError), f"not the tool's own error: {type(exc).__name__}: {exc}"
    text = str(exc)
    assert text and "\n" not in text, f"error is not one line: {text!r}"
    if path is not None and isinstance(exc, InputError):
        assert str(path) in text, f"error does not name {path}: {text!r}"


@contextlib.contextmanager
def no_hang(seconds: int = 20) -> Iterator[None]:
    """Fail (instead of hanging the suite) if the body runs longer than `seconds` (main thread only)."""

    def _alarm(signum: int, frame: object) -> None:
        raise TimeoutError(f"hung for more than {seconds} s")

    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def pds_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update({"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONHASHSEED": "0", "COLUMNS": "200"})
    src = str(REPO / "src")
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def pds_cmd(*args: str | os.PathLike[str]) -> list[str]:
    """`pds ARGS` as a subprocess (one torch thread via pds_env: the suite runs two workers on two cores)."""
    return [sys.executable, "-m", "pds_mri.cli", *(str(a) for a in args)]


def run_pds(args: Sequence[str | os.PathLike[str]], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(pds_cmd(*args), env=pds_env(), capture_output=True, text=True, timeout=timeout)
