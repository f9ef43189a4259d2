"""Progress bars and console output shared by the commands and the trainer: rich when a person watches,
quiet otherwise (stderr not a terminal, or a torchrun rank other than 0)."""

from __future__ import annotations

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
