"""Reading a config or validating inputs never imports torch: no import runs from the light layers upwards."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    "module", ["pds_mri.config", "pds_mri.io.validate", "pds_mri.models.config", "pds_mri.training.config"]
)
def test_light_modules_do_not_import_torch(module: str) -> None:
    code = f"import sys, {module}; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", f"{module} imports torch"
