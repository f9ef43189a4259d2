"""Re-score a finished `pds benchmark` with the current `pds evaluate` (e.g. to add the group-difference
metric to folds scored by an older version), then rewrite results.json / results.md from what is finished.

Nothing is retrained or resynthesised: for every (model, fold) with done.json, each synth-<direction>
directory is scored again into eval-<direction>, and done.json's rows are replaced (synthesis seconds kept).

    python benchmarks/rescore.py BENCH_DIR PREPARED_DIR --folds 3 [--models pds unet ...]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pds_mri.io.atomic import write_json
from pds_mri.io.layout import key_of
from pds_mri.io.result_files import FoldRecord, read_record, record_json
from pds_mri.training.data import DIRECTIONS, read_cohort
from pds_mri.workflows.benchmark import BenchmarkOptions, fold_dir, write_results
from pds_mri.workflows.evaluate import run_evaluate
from pds_mri.workflows.models import resolve_models


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bench_dir", type=Path)
    parser.add_argument("prepared_dir", type=Path)
    parser.add_argument("--folds", type=int, required=True)
    parser.add_argument("--models", nargs="+", default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    models = resolve_models(tuple(args.models or ()))
    for model in models:
        for fold in range(args.folds):
            here = fold_dir(args.bench_dir, model, fold)
            done = here.done
            if not done.is_file():
                continue
            record = record_json(read_record(done, FoldRecord))
            seconds = {(key_of(r), r["direction"]): r.get("synth_seconds") for r in record["rows"]}
            rows = []
            for direction in DIRECTIONS:
                run_dir = Path(args.bench_dir) / record["run_dir"]
                payload = run_evaluate(
                    here.synthesized(direction), args.prepared_dir, here.evaluation(direction), run_dir
                )
                rows += [{**r, "synth_seconds": seconds.get((key_of(r), direction))} for r in payload["rows"]]
            write_json(done, record_json(FoldRecord(**{**record, "rows": rows})))
            print(f"rescored {model} fold {fold}: {len(rows)} rows", flush=True)
    # collect only (never trains): what is finished, as `pds benchmark` would write it
    finished = [fold_dir(args.bench_dir, m, k).done for k in range(args.folds) for m in models]
    records = [record_json(read_record(d, FoldRecord)) for d in finished if d.is_file()]
    paired = [r for r in read_cohort(args.prepared_dir) if r.get("fmri") and r.get("dmri")]
    options = BenchmarkOptions(args.prepared_dir, args.bench_dir, folds=args.folds, models=models, seed=args.seed)
    write_results(options, models, records, len(paired))
    print(f"wrote {args.bench_dir}/results.json and results.md", flush=True)


if __name__ == "__main__":
    main()
