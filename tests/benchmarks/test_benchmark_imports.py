"""Every `from pds_mri... import name` in benchmarks/*.py resolves. The scripts run by hand (`make bench`), so a
module split that moves a function would otherwise only show when someone next runs them (it happened:
prepare_speed.py kept importing prepare_subject from the workflow after it moved to preprocess/subject.py)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

SCRIPTS = sorted((Path(__file__).resolve().parents[2] / "benchmarks").glob("*.py"))


def _imports(script: Path) -> list[tuple[str, str]]:
    tree = ast.parse(script.read_text(), filename=str(script))
    return [
        (node.module, alias.name)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("pds_mri")
        for alias in node.names
    ]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_every_pds_mri_import_of_a_benchmark_script_resolves(script: Path) -> None:
    missing = []
    for module, name in _imports(script):
        target = importlib.import_module(module)
        if not hasattr(target, name):
            try:
                importlib.import_module(f"{module}.{name}")  # `from package import submodule`
            except ImportError:
                missing.append(f"{module}.{name}")
    assert not missing, f"{script.name} imports names that do not exist: {missing}"


def test_the_scripts_are_found() -> None:
    assert {"prepare_speed.py", "speed.py", "gpu_check.py"} <= {p.name for p in SCRIPTS}
