"""Progress bars and console output shared by the commands: rich when a person watches, quiet otherwise."""

from __future__ import annotations

import os
import sys

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

#: Under torchrun only rank 0 talks; the other ranks' messages would repeat it.
console = Console(stderr=True, quiet=os.environ.get("RANK", "0") != "0")


def progress_bar() -> Progress:
    """Bar with count, elapsed time and ETA; it hides itself when stderr is not a terminal."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console,
        disable=not sys.stderr.isatty(),
    )
