"""`pds simulate`: write the seeded simulated BIDS cohort."""

from __future__ import annotations

from pathlib import Path

from pds_mri.config import preset as load_preset
from pds_mri.progress import console, progress_bar


def run_simulate(
    out_dir: Path,
    n_subjects: int,
    seed: int,
    preset: str,
    missing_fmri: float,
    missing_dmri: float,
    overwrite: bool = False,
) -> list[dict]:
    from pds_mri.simulate import simulate_cohort

    config = load_preset(preset)
    with progress_bar() as bar:
        task = bar.add_task("simulating subjects", total=n_subjects)
        rows = simulate_cohort(
            Path(out_dir),
            config,
            n_subjects=n_subjects,
            seed=seed,
            missing_fmri=missing_fmri,
            missing_dmri=missing_dmri,
            overwrite=overwrite,
            progress=lambda n: bar.update(task, advance=n),
        )
    console.print(f"simulated {len(rows)} subjects ({preset} preset, seed {seed}) -> {out_dir}")
    return rows
