"""Progress bars and console output shared by the commands and the trainer: rich when a person watches,
quiet otherwise (stderr not a terminal, or a torchrun rank other than 0)."""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

#: Under torchrun only rank 0 talks; the other ranks' messages would repeat it.
console = Console(stderr=True, quiet=os.environ.get("RANK", "0") != "0")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(debug: bool = False, verbosity: int = 0) -> None:
    """The package's log lines (training steps, validations, resumes) on stderr, timestamped.

    When stderr is not a terminal (a batch job, `> log 2>&1`) there is no progress bar, so INFO lines are
    the only sign of life of a long training and are shown; on a terminal the bar shows progress and only
    warnings are logged. `verbosity` (`--verbose` +1, `--quiet` -1) moves that: +1 shows INFO lines on a
    terminal too, -1 shows warnings and errors only and silences the console messages and bars. Ranks other
    than 0 log warnings only. Idempotent (one handler).
    """
    logger = logging.getLogger("pds_mri")
    rank0 = os.environ.get("RANK", "0") == "0"
    if debug:
        level = logging.DEBUG
    elif verbosity < 0 or not rank0:
        level = logging.WARNING
    elif verbosity > 0 or not sys.stderr.isatty():
        level = logging.INFO
    else:
        level = logging.WARNING
    logger.setLevel(level)
    console.quiet = verbosity < 0 or not rank0
    for handler in list(logger.handlers):
        if isinstance(handler, _StderrHandler):
            logger.removeHandler(handler)
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter(LOG_FORMAT, "%Y-%m-%d %H:%M:%S"))
    logger.addHandler(handler)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (tests and wrappers replace it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def progress_bar(*extra: ProgressColumn) -> Progress:
    """Bar with count, `extra` columns (e.g. the loss), elapsed time and ETA; hidden when stderr is not a
    terminal, where log lines take its place (`LoggedProgress`)."""
    return LoggedProgress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        *extra,
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console,
        disable=not sys.stderr.isatty(),
    )


class LoggedProgress(Progress):
    """A rich Progress that, while hidden (batch job, `> log 2>&1`), logs its tasks instead: after the first
    item (so the rate is known early), then at most every `LOG_EVERY_S` seconds, and when a task finishes."""

    LOG_EVERY_S = 30.0

    def __init__(self, *columns: Any, **kwargs: Any) -> None:
        super().__init__(*columns, **kwargs)
        self._logged_at: dict[TaskID, float] = {}
        self._log = logging.getLogger("pds_mri.progress")

    def advance(self, task_id: TaskID, advance: float = 1) -> None:
        super().advance(task_id, advance)
        self._log_task(task_id)

    def update(self, task_id: TaskID, **kwargs: Any) -> None:
        super().update(task_id, **kwargs)
        if "advance" in kwargs or "completed" in kwargs:
            self._log_task(task_id)

    def _log_task(self, task_id: TaskID) -> None:
        if not self.disable:
            return  # the bar shows it
        task = next(t for t in self.tasks if t.id == task_id)
        completed, total, elapsed, remaining = task.completed, task.total, task.elapsed, task.time_remaining
        finished, description = task.finished, task.description
        now = time.monotonic()
        first = task_id not in self._logged_at
        if not (first or finished or now - self._logged_at[task_id] >= self.LOG_EVERY_S):
            return
        if finished and self._logged_at.get(task_id) == float("inf"):
            return  # the end was logged already
        self._logged_at[task_id] = float("inf") if finished else now
        eta = "" if finished or remaining is None else f", eta {_clock(remaining)}"
        of = f"/{total:g}" if total is not None else ""
        self._log.info("%s: %g%s (%s elapsed%s)", description, completed, of, _clock(elapsed or 0.0), eta)


def _clock(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"
