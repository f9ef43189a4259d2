"""Seconds and peak memory to prepare one `paper`-preset subject (BOLD ~64×64×36×200, DWI ~96×96×60×65).

Each map choice runs in a fresh subprocess so its peak RSS is its own; the last two rows add the
registration to MNI152 (ANTsPy, via the T1w) that raw scanner-space data gets (`--registration affine`, and
`syn`: rigid -> affine -> SyN).
Target: ≤ 20 s per subject on 2 cores with mean maps. Usage: python benchmarks/prepare_speed.py --out benchmarks/results
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, write_results

CHOICES = [
    ("mean", "mean", "none"),
    ("alff", "fa", "none"),
    ("falff", "md", "none"),
    ("mean", "mean", "affine"),
    ("mean", "mean", "syn"),
]


def worker(bids_dir: Path, out_dir: Path, fmri_map: str, dmri_map: str, registration: str) -> None:
    from pds_mri.io.bids import discover
    from pds_mri.preprocess.atlas import write_atlas
    from pds_mri.preprocess.subject import prepare_subject
    from pds_mri.workflows.prepare import PrepareOptions, resolve_config

    config = resolve_config(PrepareOptions(bids_dir, out_dir, fmri_map=fmri_map, dmri_map=dmri_map, preset="paper"))
    subject = discover(bids_dir)[0]
    write_atlas(out_dir, config)  # once per cohort, not per subject
    prepare_subject(subject, config, out_dir, registration)  # warm caches (templates) like a cohort run does
    start = time.perf_counter()
    prepare_subject(subject, config, out_dir, registration)
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak_mb}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--worker", nargs=5, metavar=("BIDS", "OUT", "FMRI", "DMRI", "REG"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(Path(args.worker[0]), Path(args.worker[1]), args.worker[2], args.worker[3], args.worker[4])
        return

    from pds_mri.config import preset
    from pds_mri.simulate import simulate_cohort

    with tempfile.TemporaryDirectory() as tmp:
        bids = Path(tmp) / "bids"
        simulate_cohort(bids, preset("paper"), n_subjects=1, seed=0)
        rows = []
        for fmri_map, dmri_map, registration in CHOICES:
            out = Path(tmp) / f"prep-{fmri_map}-{dmri_map}-{registration}"
            cmd = [sys.executable, __file__, "--worker", str(bids), str(out), fmri_map, dmri_map, registration]
            result = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()[-1])
            rows.append(
                {
                    "fMRI map": fmri_map,
                    "dMRI map": dmri_map,
                    "registration": registration,
                    "s / subject": f"{result['seconds']:.1f}",
                    "peak RSS (MB)": f"{result['peak_rss_mb']:.0f}",
                }
            )
            print(rows[-1], flush=True)
    payload = {
        "benchmark": "prepare_speed",
        "command": " ".join(
            [f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}"] * ("OMP_NUM_THREADS" in os.environ)
            + ["python", "benchmarks/prepare_speed.py", *sys.argv[1:]]
        ),
        "preset": "paper",
        "subject": "simulated, BOLD 64x64x36x200, DWI 96x96x60x65, T1w 2 mm",
        "target": "<= 20 s per subject on 2 cores with mean maps",
        "machine": machine(),
        "results": rows,
    }
    print(write_results(args.out, "prepare_speed", payload, rows).read_text())


if __name__ == "__main__":
    main()
