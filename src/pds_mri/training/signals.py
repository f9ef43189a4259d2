"""SIGTERM / SIGUSR1 ask training to stop at the next step boundary with a checkpoint (SLURM time limits).

SLURM sends SIGTERM before it kills a job (or SIGUSR1 `--signal=USR1@SECONDS` early); torchrun forwards
SIGTERM to its workers. The handler only records the signal: the trainer checks it between steps, all
ranks agree on it (one collective), save `last` and raise StoppedBySignal (exit status 75). Repeats are
ignored rather than fatal, because under torchrun + SLURM each worker gets SIGTERM twice (from slurmstepd
and forwarded by torchrun); SIGKILL still ends the process at once.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)

_state: dict[str, Any] = {"requested": None, "depth": 0, "previous": {}}


def _handler(signum: int, frame: FrameType | None) -> None:
    if _state["requested"] is None:  # nothing else here: a signal handler must not take locks (logging)
        _state["requested"] = signum


def requested() -> int | None:
    """The stop signal received since the outermost `stop_on_signals` began, or None."""
    return _state["requested"]


def signal_name(signum: int) -> str:
    return signal.Signals(signum).name


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Record SIGTERM/SIGUSR1 instead of dying, for the body (re-entrant; a no-op outside the main thread).

    The outermost entry clears an earlier request and the exit puts the previous handlers back, so a
    request made during one job (e.g. stage 1) is still seen by a later Trainer in it (stage 2).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if _state["depth"] == 0:
        _state["requested"] = None
        _state["previous"] = {s: signal.signal(s, _handler) for s in STOP_SIGNALS}
    _state["depth"] += 1
    try:
        yield
    finally:
        _state["depth"] -= 1
        if _state["depth"] == 0:
            for s, previous in _state["previous"].items():
                signal.signal(s, previous)
