"""How far to trust the std maps: raw and calibrated, on held-out test subjects (#15 item 4).

Given a trained run, its prepared directory and, per direction, the evaluation of the test subjects'
syntheses made without (`--no-uncertainty-scale`, or before `pds calibrate`) and with the run's scale:

    pds calibrate RUN PREPARED --samples 8
    pds synthesize RUN PREPARED raw-D --direction D --samples 8 --participant-label <test ids> --no-uncertainty-scale
    pds synthesize RUN PREPARED scaled-D --direction D --samples 8 --participant-label <test ids>
    pds evaluate raw-D PREPARED raw-eval-D --run RUN;  pds evaluate scaled-D PREPARED scaled-eval-D --run RUN
    python benchmarks/uncertainty.py RUN --raw raw-eval-{D} --scaled scaled-eval-{D} \
        --out benchmarks/results/uncertainty

writes uncertainty.json and uncertainty.md: per direction the pooled Spearman ρ(std, |error|) over the brain,
its interior and its edge, and ±1σ / ±2σ coverage before and after the scale, with the scale itself.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from _common import machine, write_results
from pds_mri.domain import DIRECTIONS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--raw", required=True, help="evaluation folder pattern with {D} for the direction")
    parser.add_argument("--scaled", required=True, help="the same for the calibrated syntheses")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/uncertainty"))
    args = parser.parse_args(argv)
    scale = json.loads((args.run_dir / "uncertainty_scale.json").read_text())
    split = json.loads((args.run_dir / "split.json").read_text())
    rows, table = {}, []
    for direction in DIRECTIONS:
        raw = json.loads((Path(args.raw.format(D=direction)) / "metrics.json").read_text())
        scaled = json.loads((Path(args.scaled.format(D=direction)) / "metrics.json").read_text())
        before = raw["calibration"]["directions"][direction]
        after = scaled["calibration"]["directions"][direction]
        fit = scale["directions"][direction]
        psnr = raw["summary"][direction]["psnr"]["mean"]
        rows[direction] = {"raw": before, "calibrated": after, "scale": fit, "psnr_mean": psnr}
        table.append(
            {
                "direction": direction,
                "test subjects": before["subjects"],
                "PSNR (dB)": f"{psnr:.2f}",
                "ρ brain": f"{before['brain']['spearman']:.3f}",
                "ρ interior": f"{before['interior']['spearman']:.3f}",
                "ρ edge": f"{before['edge']['spearman']:.3f}",
                "±1σ raw": f"{before['brain']['coverage_1sd']:.3f}",
                "±2σ raw": f"{before['brain']['coverage_2sd']:.3f}",
                "scale (val)": f"{fit['scale']:.2f}",
                "±1σ calibrated": f"{after['brain']['coverage_1sd']:.3f}",
                "±2σ calibrated": f"{after['brain']['coverage_2sd']:.3f}",
                "±2σ calibrated, interior": f"{after['interior']['coverage_2sd']:.3f}",
                "±2σ calibrated, edge": f"{after['edge']['coverage_2sd']:.3f}",
            }
        )
    payload = {
        "machine": machine(),
        "command": " ".join(["python", "benchmarks/uncertainty.py", *(argv if argv is not None else sys.argv[1:])]),
        "run": str(args.run_dir),
        "split_sizes": {k: len(v) for k, v in split.items() if isinstance(v, list)},
        "samples": scale["samples"],
        "scale_fitted_on": scale["fitted_on"],
        "directions": rows,
    }
    write_results(args.out, "uncertainty", payload, table)
    print((args.out / "uncertainty.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
