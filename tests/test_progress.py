"""Without a terminal the progress bar is hidden and log lines take its place (a batch job must not look dead)."""

from __future__ import annotations

import logging

import pytest

from pds_mri import progress
from pds_mri.progress import LoggedProgress, progress_bar


def test_a_hidden_bar_logs_the_first_item_then_periodically_and_the_end(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = {"now": 1000.0}
    monkeypatch.setattr(progress.time, "monotonic", lambda: clock["now"])
    caplog.set_level(logging.INFO, logger="pds_mri.progress")
    with progress_bar() as bar:  # pytest's stderr is not a terminal: hidden
        assert isinstance(bar, LoggedProgress) and bar.disable
        task = bar.add_task("synthesising", total=5)
        for step in range(5):
            clock["now"] += 10.0
            bar.advance(task)
            if step == 1:
                bar.update(task, description="synthesising")  # no progress: no line
    lines = [r.getMessage() for r in caplog.records if r.name == "pds_mri.progress"]
    # item 1 (first), item 4 (30 s after the first line), item 5 (finished); never twice for the end
    assert [line.split(" (")[0] for line in lines] == ["synthesising: 1/5", "synthesising: 4/5", "synthesising: 5/5"]
    assert "eta" in lines[1] and "eta" not in lines[-1]  # an ETA once a rate is known; none at the end


def test_a_visible_bar_does_not_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="pds_mri.progress")
    with LoggedProgress(disable=False, console=progress.console) as bar:
        bar.advance(bar.add_task("x", total=2), 2)
    assert not [r for r in caplog.records if r.name == "pds_mri.progress"]
