"""Two `pds synthesize` processes writing to the same OUT_DIR, and a `prepare` re-run while the index is read:
no torn files (every NIfTI loads, every TSV parses, every JSON parses)."""

from __future__ import annotations

import csv
import json
import subprocess
import threading
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from ._helpers import pds_cmd, pds_env


def _check_tree(out: Path) -> None:
    for p in out.rglob("*.nii.gz"):
        data = np.asarray(nib.load(p).dataobj)  # full read: a torn gzip fails here
        assert np.isfinite(data).all(), p
    for p in out.rglob("*.json"):
        json.loads(p.read_text())
    for p in out.rglob("*.tsv"):
        rows = list(csv.DictReader(p.read_text().splitlines(), delimiter="\t"))
        assert rows and all(None not in r and all(v is not None for v in r.values()) for r in rows), p
    stray = [p for p in out.rglob("*") if ".part" in p.name]
    assert not stray, f"temporary files visible after both runs finished: {stray}"


@pytest.mark.slow
def test_two_synthesize_processes_on_one_out_dir_leave_no_torn_files(tiny_cli: dict[str, Path]) -> None:
    out = tiny_cli["root"] / "synth-shared"
    runs = [
        pds_cmd("synthesize", tiny_cli["run"], tiny_cli["prepared"], out, "--direction", "fmri2dmri", "--seed", s)
        for s in ("1", "2")
    ]
    procs = [
        subprocess.Popen(c, env=pds_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c in runs
    ]
    torn: list[str] = []

    def watch() -> None:  # a reader polling while both write: it must never see a partial file
        while any(p.poll() is None for p in procs):
            for f in list(out.rglob("*.nii.gz")):
                try:
                    np.asarray(nib.load(f).dataobj)
                except FileNotFoundError:
                    pass
                except Exception as exc:
                    torn.append(f"{f.name}: {type(exc).__name__}: {exc}")
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    results = [p.communicate(timeout=600) for p in procs]
    watcher.join()
    for p, (_, err) in zip(procs, results, strict=False):
        # Either both succeed (last writer wins, whole files only) or one refuses clearly.
        assert p.returncode in (0, 2), err[-2000:]
        if p.returncode == 2:
            assert err.strip().splitlines()[-1].startswith("pds: error:")
    assert not torn, torn
    _check_tree(out)
    rows = list(csv.DictReader((out / "synthesized.tsv").read_text().splitlines(), delimiter="\t"))
    for r in rows:  # the sidecar of each map names the seed of the run that wrote the map's row
        assert (out / r["synthesis"]).is_file() and (out / r["sidecar"]).is_file()


@pytest.mark.slow
def test_prepare_rerun_while_a_reader_reads_the_index(tiny_cli: dict[str, Path]) -> None:
    import shutil

    out = tiny_cli["root"] / "prepared-shared"
    shutil.copytree(tiny_cli["prepared"], out)
    proc = subprocess.Popen(
        pds_cmd("prepare", tiny_cli["bids"], out, "--config", tiny_cli["config"]),
        env=pds_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    from pds_mri.training.data import read_cohort

    reads = 0
    while proc.poll() is None:
        rows = read_cohort(out)
        for r in rows:
            for col in ("fmri", "dmri", "fmri_mask"):
                if r.get(col):
                    np.asarray(nib.load(out / r[col]).dataobj)
        reads += 1
    assert proc.returncode == 0, proc.stderr.read()[-2000:] if proc.stderr else ""
    assert reads > 0
    _check_tree(out)


def test_output_lock_refuses_a_second_writer_and_frees_on_exit(tmp_path: Path) -> None:
    from pds_mri.errors import PdsError
    from pds_mri.io.atomic import output_lock

    from ._helpers import assert_one_line_error

    with output_lock(tmp_path / "out", "synthesize"):
        with pytest.raises(PdsError) as info, output_lock(tmp_path / "out", "synthesize"):
            pass
        assert_one_line_error(info.value)
        assert "in use by another `pds synthesize`" in str(info.value)
    with output_lock(tmp_path / "out", "synthesize"):  # released: a later run proceeds
        pass


def test_the_run_lock_leaves_the_writes_in_flight_of_a_locked_subfolder(tmp_path: Path) -> None:
    """`pds calibrate RUN` (or `train --resume`) while `pds synthesize RUN PREPARED RUN/synth` writes: taking the
    run's lock removes a killed run's leftovers, never the temporary files of the synthesis holding RUN/synth."""
    from pds_mri.io.atomic import output_lock

    run = tmp_path / "run"
    (run / "synth" / "sub-1").mkdir(parents=True)
    in_flight = run / "synth" / "sub-1" / ".sub-1_synth.nii.gz.abcd.part.nii.gz"
    leftover = run / "stage1" / ".state.json.efgh.part.json"
    leftover.parent.mkdir()
    leftover.write_bytes(b"x")
    with output_lock(run / "synth", "synthesize"):
        in_flight.write_bytes(b"x")  # written by the synthesis holding RUN/synth
        with output_lock(run, "calibrate"):
            assert in_flight.is_file() and not leftover.exists()
    with output_lock(run, "calibrate"):  # the synthesis is gone: now its leftover is stale
        assert not in_flight.exists()


def test_output_lock_is_released_when_the_holder_is_killed(tmp_path: Path) -> None:
    import signal
    import sys

    from pds_mri.io.atomic import output_lock

    code = (
        "import sys, time; from pds_mri.io.atomic import output_lock\n"
        "with output_lock(sys.argv[1], 'prepare'):\n    print('locked', flush=True); time.sleep(60)\n"
    )
    cmd = [sys.executable, "-c", code, str(tmp_path)]
    proc = subprocess.Popen(cmd, env=pds_env(), stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with output_lock(tmp_path, "prepare"):
        pass
