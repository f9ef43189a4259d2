"""Progress bars and console output shared by the commands and the trainer: rich when a person watches,
quiet otherwise (stderr not a terminal, or a torchrun rank other than 0)."""

from __future__ import annotations

import logging
import os
import sys

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

#: Under torchrun only rank 0 talks; the other ranks' messages would repeat it.
console = Console(stderr=True, quiet=os.environ.get("RANK", "0") != "0")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(debug: bool = False) -> None:
    """The package's log lines (training steps, validations, resumes) on stderr, timestamped.

    When stderr is not a terminal (a batch job, `> log 2>&1`) there is no progress bar, so INFO lines are
    the only sign of life of a long training and are shown; on a terminal the bar shows progress and only
    warnings are logged. Ranks other than 0 log warnings only. Idempotent (one handler).
    """
    logger = logging.getLogger("pds_mri")
    rank0 = os.environ.get("RANK", "0") == "0"
    level = logging.DEBUG if debug else logging.INFO if (rank0 and not sys.stderr.isatty()) else logging.WARNING
    logger.setLevel(level)
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
    """Bar with count, `extra` columns (e.g. the loss), elapsed time and ETA; hidden when stderr is not a terminal."""
    return Progress(
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
