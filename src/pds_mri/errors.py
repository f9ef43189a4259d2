"""Errors the user can act on: the CLI prints them as one line, without a traceback."""

from __future__ import annotations

from os import PathLike


class PdsError(Exception):
    """A problem with the user's input or request, reported as one line."""


class InputError(PdsError):
    """An input file is missing, corrupt or inconsistent; the message names the file."""

    def __init__(self, path: str | PathLike[str], problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class CohortError(PdsError):
    """Several inputs failed validation; all problems are reported at once."""

    def __init__(self, problems: list[InputError]) -> None:
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{len(problems)} invalid input(s):\n{lines}")


class Terminated(BaseException):
    """SIGTERM arrived (a batch scheduler's time limit, `kill`): raised like KeyboardInterrupt, so every
    `finally` runs — temporary files are removed, locks released — and the CLI exits 128 + 15."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"terminated by signal {signum}")


class StoppedBySignal(PdsError):
    """Training stopped on SIGTERM/SIGUSR1 after checkpointing the current step: resume it with --resume.

    The CLI exits with EX_TEMPFAIL (75, "temporary failure; retry"), so a batch script can tell "requeue
    me" apart from success (0) and from an error (2).
    """

    exit_code = 75
