"""Reading a config or validating inputs never imports torch: no import runs from the light layers upwards."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import pds_mri


@pytest.mark.parametrize(
    "module",
    ["pds_mri.cli", "pds_mri.config", "pds_mri.io.validate", "pds_mri.models.config", "pds_mri.training.config"],
)
def test_light_modules_do_not_import_torch(module: str) -> None:
    code = f"import sys, {module}; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", f"{module} imports torch"


#: Layers that may not import the ones above them (statically, lazy imports inside functions included).
FORBIDDEN_ABOVE = {
    "report": ("pds_mri.workflows", "pds_mri.training.trainer", "pds_mri.cli"),
}


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("layer", sorted(FORBIDDEN_ABOVE))
def test_layers_do_not_import_upwards(layer: str) -> None:
    """report/ renders what io, evaluation, domain and config describe; the workflows call it, never the reverse."""
    package = Path(pds_mri.__file__).parent / layer
    files = sorted(package.rglob("*.py"))
    assert files, f"no modules under {package}"
    upward = [
        f"{path.relative_to(package.parent)} imports {name}"
        for path in files
        for name in sorted(_imported_modules(path))
        if any(name == f or name.startswith(f + ".") for f in FORBIDDEN_ABOVE[layer])
    ]
    assert not upward, "; ".join(upward)
