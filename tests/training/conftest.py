"""Fixtures for the training tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from _training_prepared import write_prepared


@pytest.fixture
def prepared(tmp_path: Path) -> Path:
    return write_prepared(tmp_path / "prepared")
