"""One failing rank ends the whole torchrun job promptly, every rank with a one-line error.

Without this, a PdsError on one rank took it to cleanup's barrier while the others waited in a training
collective; the two never match, so the job hung until the backend timeout (30 min gloo, 10 min NCCL).
Now the failing rank publishes its error in the job's key-value store, leaves the process group without a
barrier and exits. The others' pending collective then fails (gloo: the peer's sockets close) and they
stop with "stopped because rank R failed: ERROR". A watchdog thread is the backstop for backends where a
collective does not notice a dead peer (NCCL): once a failure is published, a rank that is still running
after `PDS_FAILURE_GRACE` seconds (default 10) prints that line and exits with status 2.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch.distributed as dist

from pds_mri.errors import PdsError, StoppedBySignal
from pds_mri.training.distributed import DistInfo, cleanup

FAILURE_KEY = "pds/failure"
_COUNT_KEY = "pds/failures"
GRACE_ENV = "PDS_FAILURE_GRACE"
DEFAULT_GRACE_S = 10.0
FAILURE_EXIT = 2  # the CLI's status for a PdsError


@dataclass(frozen=True)
class Failure:
    rank: int
    error: str

    def stopped(self, rank: int) -> str:
        return f"rank {rank} stopped because rank {self.rank} failed: {self.error}"


def _store() -> Any:
    """The default process group's store (torchrun's agent store), or None outside a process group."""
    if not (dist.is_available() and dist.is_initialized()):
        return None
    try:
        return dist.distributed_c10d._get_default_store()
    except (RuntimeError, ValueError, AttributeError):
        return None


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    text = " ".join(str(exc).split())
    return text if isinstance(exc, PdsError) else f"{type(exc).__name__}: {text}"


def publish_failure(info: DistInfo, exc: BaseException) -> None:
    """Record this rank's error for the others; the first failure of the job wins. Never raises."""
    store = _store()
    if store is None:
        return
    try:
        if store.add(_COUNT_KEY, 1) == 1:
            store.set(FAILURE_KEY, json.dumps({"rank": info.rank, "error": _one_line(exc)}))
    except Exception:  # the store host may be gone too: nothing left to tell
        pass


def read_failure() -> Failure | None:
    """The job's first published failure, if any (non-blocking). Never raises."""
    store = _store()
    if store is None:
        return None
    try:
        if not store.check([FAILURE_KEY]):
            return None
        entry = json.loads(store.get(FAILURE_KEY))
        return Failure(int(entry["rank"]), str(entry["error"]))
    except Exception:
        return None


def abandon(info: DistInfo) -> None:
    """Leave the process group without a barrier (the other ranks may be in any collective, or gone)."""
    if dist.is_available() and dist.is_initialized():
        with contextlib.suppress(Exception):
            dist.destroy_process_group()


class Watchdog(threading.Thread):
    """Polls the store; once any rank failed, ends this process if it has not ended by itself in `grace` s."""

    def __init__(self, info: DistInfo, grace: float, poll: float = 0.5, store: Any = None) -> None:
        super().__init__(name="pds-failure-watchdog", daemon=True)
        self.info, self.grace, self.poll = info, grace, poll
        self.done = threading.Event()
        self._store = store if store is not None else _store()  # now: the group may be destroyed meanwhile

    def run(self) -> None:
        failure = None
        while failure is None:
            if self.done.wait(self.poll):
                return
            failure = self._read()
        if self.done.wait(self.grace):
            return
        message = failure.error if failure.rank == self.info.rank else failure.stopped(self.info.rank)
        with contextlib.suppress(Exception):
            sys.stderr.write(f"pds: error: {message} (ended by the failure watchdog)\n")
            sys.stderr.flush()
        os._exit(FAILURE_EXIT)

    def _read(self) -> Failure | None:
        try:
            if self._store is None or not self._store.check([FAILURE_KEY]):
                return None
            entry = json.loads(self._store.get(FAILURE_KEY))
            return Failure(int(entry["rank"]), str(entry["error"]))
        except Exception:
            return None


def _grace() -> float:
    value = os.environ.get(GRACE_ENV, "")
    try:
        return float(value) if value else DEFAULT_GRACE_S
    except ValueError:
        raise PdsError(f"environment variable {GRACE_ENV}={value!r} is not a number of seconds") from None


@contextlib.contextmanager
def distributed_job(info: DistInfo) -> Iterator[None]:
    """Run a job's body on every rank; leave the process group together on success, or promptly on failure.

    A survivor whose collective broke because another rank failed raises PdsError naming that rank's error.
    A stop requested by a signal (StoppedBySignal) is agreed by all ranks, so it leaves like a success.
    """
    if not info.distributed:
        try:
            yield
        finally:
            cleanup(info)
        return
    watchdog = Watchdog(info, _grace())
    watchdog.start()
    stopped: StoppedBySignal | None = None
    try:
        yield
    except StoppedBySignal as exc:
        stopped = exc
    except BaseException as exc:
        _failed(info, exc)
        raise
    try:
        cleanup(info)  # a barrier: every rank got here, or a failure is pending on one of them
    except BaseException as exc:
        _failed(info, exc)
        raise
    watchdog.done.set()
    if stopped is not None:
        raise stopped


def _failed(info: DistInfo, exc: BaseException) -> None:
    """Publish `exc` and leave without a barrier; a survivor's broken collective becomes the failed rank's error.

    The watchdog keeps running: it also ends this process if its own exit hangs.
    """
    earlier = read_failure()
    publish_failure(info, exc)
    abandon(info)
    if earlier is not None and earlier.rank != info.rank and not isinstance(exc, PdsError):
        raise PdsError(earlier.stopped(info.rank)) from None
