"""No silent toy default: which preset a command uses when `--preset` is not given.

The `cpu` preset (6.8 × 6.8 × 9 mm fMRI grid, 400 training steps) exists for the demo and the tests. On a
simulated cohort it stays the default; on a user's own dataset `pds prepare` asks for `--preset` (one line
explaining the choice), and `pds train` / `pds benchmark` follow the preset the prepared directory was made
with, so a paper-grid dataset is never trained with the toy budget by accident.
"""

from __future__ import annotations

from pathlib import Path

from pds_mri.errors import InputError, PdsError
from pds_mri.io.json_files import read_json
from pds_mri.io.layout import PREPARED_CONFIG
from pds_mri.simulate.bids import GENERATOR as SIMULATOR


def prepare_preset(requested: str | None, bids_dir: Path) -> str:
    """`--preset` as given; without it `cpu` for a `pds simulate` cohort, else a one-line request to choose."""
    if requested is not None:
        return requested
    if not Path(bids_dir).exists():  # the more basic problem first, worded as discovery words it
        raise InputError(bids_dir, "not found (expected a BIDS directory or a CSV manifest)")
    if _simulated(Path(bids_dir)):
        return "cpu"
    raise PdsError(
        f"{bids_dir}: choose --preset for your own data: paper (the paper's 3 mm / 2 mm grids and training "
        "budget; train on a GPU) or cpu (coarse 6.8 mm grids and 400 steps, for demos and tests only)"
    )


def prepared_preset(requested: str | None, prepared_dir: Path) -> str:
    """`--preset` as given; without it the preset the prepared directory was made with (its config.yaml)."""
    if requested is not None:
        return requested
    from pds_mri.config import load_own_config

    path = Path(prepared_dir) / PREPARED_CONFIG
    if not path.is_file():
        raise PdsError(f"{prepared_dir}: not a prepared directory ({PREPARED_CONFIG} missing); run `pds prepare`")
    return load_own_config(path, "pds prepare").preset


def _simulated(bids_dir: Path) -> bool:
    description = bids_dir / "dataset_description.json"
    if not description.is_file():
        return False
    generated = read_json(description, "dataset_description.json", bom_ok=True).get("GeneratedBy")
    return isinstance(generated, list) and any(isinstance(g, dict) and g.get("Name") == SIMULATOR for g in generated)
