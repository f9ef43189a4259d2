"""The official BIDS validator (npm `bids-validator`, run under Node.js) accepts the simulated cohort.

Slow and needs Node.js: `make test-all` installs the validator into .tools/ and sets BIDS_VALIDATOR.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from pds_mri.config import preset
from pds_mri.simulate import simulate_cohort


@pytest.mark.slow
def test_official_validator_reports_no_errors(tmp_path: Path) -> None:
    validator = os.environ.get("BIDS_VALIDATOR") or shutil.which("bids-validator")
    if not validator:
        pytest.skip("bids-validator not installed (make test-all installs it)")
    root = tmp_path / "bids"
    simulate_cohort(root, preset("cpu"), n_subjects=3, seed=2, missing_fmri=0.34)
    done = subprocess.run([validator, str(root), "--json"], capture_output=True, text=True, timeout=300)
    report = json.loads(done.stdout)
    errors = report["issues"]["errors"]
    assert errors == [], [e.get("key") for e in errors]
