"""`pds prepare` between the happy paths: late failures, partial re-runs, far-off heads, killed runs (#16)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from pds_mri.errors import CohortError, InputError
from pds_mri.io.atomic import output_lock
from pds_mri.workflows.prepare import PrepareOptions, run_prepare

TWO = ("sub-002", "sub-003")


def _digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()
    }


def _ids(prepared: Path) -> list[str]:
    return [line.split("\t")[0] for line in (prepared / "cohort.tsv").read_text().splitlines()[1:]]


def _fail_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first normalisation of the run fails as a degenerate map would (after validation passed)."""
    import pds_mri.preprocess.normalise as normalise

    real, calls = normalise.fit_normalisation, []

    def flaky(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 1:
            raise ValueError("cannot normalise: the mask holds no finite voxel")
        return real(*args, **kwargs)

    monkeypatch.setattr(normalise, "fit_normalisation", flaky)


def test_a_late_failure_is_collected_and_leaves_no_partial_output(
    sim_bids: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "prepared"
    _fail_once(monkeypatch)
    with pytest.raises(CohortError, match="could not be prepared") as info:
        run_prepare(PrepareOptions(sim_bids, out, participant_labels=TWO))
    assert len(info.value.problems) == 1 and "sub-002" in str(info.value)
    assert not out.exists()  # a refused first prepare leaves no folder

    _fail_once(monkeypatch)
    rows = run_prepare(PrepareOptions(sim_bids, out, participant_labels=TWO, skip_invalid=True))
    assert [r["participant_id"] for r in rows] == ["sub-003"] and _ids(out) == ["sub-003"]
    assert not (out / "sub-002").exists() and not (out / ".staging").exists()


def test_reruns_keep_the_other_subjects_and_a_failing_one_changes_nothing(
    sim_bids: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "prepared"
    run_prepare(PrepareOptions(sim_bids, out, participant_labels=TWO))
    row_003 = (out / "cohort.tsv").read_text().splitlines()[2]
    run_prepare(PrepareOptions(sim_bids, out, participant_labels=("sub-002",)))
    assert _ids(out) == list(TWO)
    assert (out / "cohort.tsv").read_text().splitlines()[2] == row_003
    before = _digests(out)
    with pytest.raises(InputError, match="another configuration"):  # maps made otherwise cannot be mixed in
        run_prepare(PrepareOptions(sim_bids, out, participant_labels=("sub-002",), fmri_map="alff"))
    assert _digests(out) == before
    _fail_once(monkeypatch)
    with pytest.raises(CohortError):
        run_prepare(PrepareOptions(sim_bids, out, participant_labels=("sub-002",)))
    assert _digests(out) == before


def test_a_head_far_from_mni_without_t1w_fails_validation_and_can_be_skipped(sim_bids: Path, tmp_path: Path) -> None:
    bids = tmp_path / "bids"
    shutil.copytree(sim_bids, bids)
    shutil.rmtree(bids / "sub-002" / "anat")
    for path in (bids / "sub-002").rglob("*.nii.gz"):  # the scanner's origin 500 mm away: no overlap with MNI
        img = nib.load(path)
        affine = img.affine.copy()
        affine[:3, 3] += 500
        nib.save(nib.Nifti1Image(np.asarray(img.dataobj), affine, img.header), path)
    out = tmp_path / "prepared"
    with pytest.raises(CohortError, match="covers 0% of the MNI152 brain") as info:
        run_prepare(PrepareOptions(bids, out, participant_labels=TWO, registration="none"))
    assert {Path(p.path).parts[-3] for p in info.value.problems} == {"sub-002"}
    assert not out.exists()
    rows = run_prepare(PrepareOptions(bids, out, participant_labels=TWO, registration="none", skip_invalid=True))
    assert [r["participant_id"] for r in rows] == ["sub-003"]


def _pds(*args: str | Path) -> subprocess.Popen[str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(Path(__file__).resolve().parents[2] / "src"))
    cmd = [sys.executable, "-m", "pds_mri.cli", *map(str, args)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _wait_for(condition, seconds: float = 60.0) -> bool:  # type: ignore[no-untyped-def]
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs /proc to find the worker processes")
def test_killing_a_parallel_prepare_never_leaves_its_lock_held(sim_bids: Path, tmp_path: Path) -> None:
    out = tmp_path / "prepared"
    proc = _pds("prepare", sim_bids, out, "--n-jobs", "2")
    workers: list[int] = []
    try:
        assert _wait_for(lambda: len(_children(proc.pid)) >= 2), "the workers never started"
        workers = _children(proc.pid)
        proc.kill()  # SIGKILL: no cleanup runs in the parent
        proc.wait(timeout=30)
        with output_lock(out, "prepare"):  # forked workers would still hold it: "in use"
            pass
    finally:
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.kill()


def test_sigterm_exits_143_after_cleaning_up(sim_bids: Path, tmp_path: Path) -> None:
    out = tmp_path / "prepared"
    proc = _pds("prepare", sim_bids, out)
    assert _wait_for(lambda: (out / ".staging").is_dir()), "prepare never started writing"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err[-500:]
    assert "Traceback" not in err and "Terminated." in err
    assert not out.exists()  # a first prepare that was stopped leaves nothing (no .part, no lock, no folder)


def test_stale_temporary_files_are_removed_by_the_next_run_under_the_lock(tmp_path: Path) -> None:
    out = tmp_path / "out" / "sub-001"
    out.mkdir(parents=True)
    stale = out / ".sub-001_map.nii.gz.k2j4.part.nii.gz"  # as atomic_path names them
    stale.write_bytes(b"half a file")
    keep = out / "sub-001_map.nii.gz"
    keep.write_bytes(b"whole")
    with output_lock(tmp_path / "out", "synthesize"):
        pass
    assert not stale.exists() and keep.read_bytes() == b"whole"
