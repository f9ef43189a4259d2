"""pds-state runs without retraining: pds-state trains exactly as pds (the disease state changes no weight; only
validation, which picks the best checkpoint, would have used the estimate), so each fold's pds run is copied,
its config switched to model.disease_state: true, and the state fitted on the run's own training subjects."""

import json
import shutil
import sys
from pathlib import Path

import yaml

from pds_mri.disease.run_priors import fit_run_priors
from pds_mri.io.atomic import write_json
from pds_mri.training.data import DIRECTIONS, PreparedCohort
from pds_mri.training.split import read_split

bench, prepared = Path(sys.argv[1]), Path(sys.argv[2])
for k in range(3):
    src, dst = bench / "runs/pds" / f"fold-{k}", bench / "runs/pds-state" / f"fold-{k}"
    if dst.exists():
        continue
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("synth-*", "eval-*", "done.json"))
    cfg = yaml.safe_load((dst / "config.yaml").read_text())
    cfg["model"]["disease_state"] = True
    (dst / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    info = json.loads((dst / "model.json").read_text()) | {"model": "pds-state", "overrides": {"disease_state": True}}
    write_json(dst / "model.json", info)
    marker = json.loads((dst / "trained.json").read_text()) | {"model": "pds-state", "copied_from": str(src)}
    write_json(dst / "trained.json", marker)
    train = read_split(dst)["train"]
    cohort = PreparedCohort(prepared, train)
    items = [cohort[i] for i in range(len(cohort))]
    fit_run_priors(items, cohort.participant_ids, DIRECTIONS, state=True, maps=False).save(dst)
    print("pds-state fold", k, "from", src, flush=True)
