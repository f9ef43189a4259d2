"""Kill and resume: SIGKILL at any point, including inside a checkpoint write, then resume.

Fast: the Trainer (tiny model, run as a subprocess) killed between the two renames of a checkpoint swap.
Slow: every os.replace of a run as a kill point, before and after; `pds train` killed many times at random
moments and resumed; `pds prepare` and `pds synthesize` killed and re-run.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pds_mri.training import checkpoint as ckpt

from ._helpers import pds_cmd, pds_env, run_pds
from ._toy_train import make_trainer, trainer_cfg

TOY = Path(__file__).with_name("_toy_train.py")
FAST_STEPS = 4


def _toy(run_dir: Path, *args: str, steps: int = FAST_STEPS) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, str(TOY), str(run_dir), "--steps", str(steps), *args]
    return subprocess.run(cmd, env=pds_env(), capture_output=True, text=True, timeout=120)


def _tensors(directory: Path) -> dict[str, bytes]:
    c = ckpt.load_checkpoint(directory)
    return {k: v.contiguous().numpy().tobytes() for k, v in c.tensors.items()}


def _assert_same_final_state(run_dir: Path, reference: Path) -> None:
    got, want = _tensors(run_dir / "checkpoints/last"), _tensors(reference / "checkpoints/last")
    assert got.keys() == want.keys()
    different = sorted(k for k in got if got[k] != want[k])
    assert not different, f"resumed run differs from the uninterrupted one in {different[:5]}"
    state = ckpt.load_checkpoint(run_dir / "checkpoints/last").state["trainer"]
    assert state["step"] == ckpt.load_checkpoint(reference / "checkpoints/last").state["trainer"]["step"]


def _no_stray_temporaries(root: Path) -> None:
    stray = [p for p in root.rglob("*") if ".tmp-" in p.name or ".part" in p.name or ".old-" in p.name]
    assert not stray, f"temporary files left behind: {stray}"


class _References(dict):
    """Uninterrupted toy runs by step count, made in-process on first use (the code the subprocess runs)."""

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root

    def __missing__(self, steps: int) -> Path:
        import torch

        torch.set_num_threads(1)
        run = self.root / f"ref-{steps}"
        make_trainer(run, trainer_cfg(steps=steps)).train()
        self[steps] = run
        return run


@pytest.fixture(scope="module")
def toy_reference(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    return _References(tmp_path_factory.mktemp("toy-ref"))


def test_kill_between_the_two_renames_of_a_checkpoint_swap_then_resume(
    tmp_path: Path, toy_reference: dict[int, Path]
) -> None:
    """Replace call 4 is `tmp -> last` of the second save, after `last -> .last.old-*`: `last` is missing."""
    run = tmp_path / "run"
    killed = _toy(run, "--kill-on-replace", "4")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    ckdir = run / "checkpoints"
    assert not (ckdir / "last").exists() and list(ckdir.glob(".last.old-*")), "not killed mid-swap"
    resumed = _toy(run, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    _assert_same_final_state(run, toy_reference[FAST_STEPS])
    _no_stray_temporaries(run)


@pytest.mark.slow
@pytest.mark.parametrize("after", [False, True], ids=["before-replace", "after-replace"])
def test_kill_at_every_checkpoint_rename_then_resume(
    tmp_path: Path, toy_reference: dict[int, Path], after: bool
) -> None:
    steps = FAST_STEPS
    n_replaces = 2 + 3 * (steps - 1)  # first save: 2 new dirs; later: last swapped (2) + a new step dir (1)
    for n in range(1, n_replaces + 1):
        run = tmp_path / f"run-{n}"
        killed = _toy(run, "--kill-on-replace", str(n), *(["--kill-after"] if after else []), steps=steps)
        assert killed.returncode == -signal.SIGKILL, (n, killed.stderr)
        has_last = (run / "checkpoints/last").exists() or list((run / "checkpoints").glob(".last.old-*"))
        resumed = _toy(run, *(["--resume"] if has_last else []), steps=steps)
        assert resumed.returncode == 0, (n, resumed.stderr)
        _assert_same_final_state(run, toy_reference[steps])
        _no_stray_temporaries(run)


@pytest.mark.slow
def test_toy_trainer_killed_repeatedly_at_random_times(tmp_path: Path, toy_reference: dict[int, Path]) -> None:
    rng = random.Random(2024)
    steps = 8
    for trial in range(3):
        run = tmp_path / f"run-{trial}"
        for attempt in range(30):  # kill, resume, kill, ... until one attempt finishes
            resume = (run / "checkpoints/last").exists() or bool(list(run.glob("checkpoints/.last.old-*")))
            cmd = [sys.executable, str(TOY), str(run), "--steps", str(steps), *(["--resume"] if resume else [])]
            proc = subprocess.Popen(cmd, env=pds_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            try:
                # Later attempts get longer, so a loaded machine (slow start-up) still finishes eventually.
                proc.wait(timeout=rng.uniform(1.5, 6.0) + attempt)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                continue
            assert proc.returncode == 0, proc.stderr.read().decode()[-2000:] if proc.stderr else ""
            break
        else:
            pytest.fail("never finished")
        _assert_same_final_state(run, toy_reference[steps])
        _no_stray_temporaries(run)


@pytest.mark.parametrize("name", ["TERM", "USR1"])
def test_stop_signal_at_a_random_step_checkpoints_that_step_and_resume_equals_the_uninterrupted_run(
    tmp_path: Path, toy_reference: dict[int, Path], name: str
) -> None:
    """SLURM's time limit: SIGTERM (or an early SIGUSR1) mid-step. Checkpoints only every 100 steps, so
    before the handler the step's work since the start was lost (the process died with -15)."""
    steps = 8
    signalled = random.Random(f"stop-{name}").randrange(2, steps)  # 1-based: the step the signal lands in
    run = tmp_path / "run"
    stopped = _toy(run, "--signal-in-step", str(signalled), "--signal", name, "--checkpoint-every", "100", steps=steps)
    assert stopped.returncode == 75, stopped.stderr
    message = stopped.stderr.strip()
    assert message.startswith(f"pds: training stopped by SIG{name} at step {signalled} of {steps}:"), message
    assert "\n" not in message and "--resume" in message
    assert ckpt.load_checkpoint(run / "checkpoints/last").state["trainer"]["step"] == signalled
    resumed = _toy(run, "--resume", "--checkpoint-every", "100", steps=steps)
    assert resumed.returncode == 0, resumed.stderr
    _assert_same_final_state(run, toy_reference[steps])
    _no_stray_temporaries(run)


# ------------------------------------------------------------------------------------------------ pds CLI


def _kill_later(cmd: list[str], seconds: float) -> int | None:
    """Run `cmd`, SIGKILL it after `seconds`; returns its exit status, or None when it was killed."""
    proc = subprocess.Popen(cmd, env=pds_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        return None
    if proc.returncode != 0:
        err = proc.stderr.read().decode() if proc.stderr else ""
        pytest.fail(f"{cmd[3:5]} failed with {proc.returncode}: {err[-3000:]}")
    return proc.returncode


def _kill_during_a_checkpoint_write(cmd: list[str], run: Path, skip: int) -> int | None:
    """Run `cmd` and SIGKILL it as soon as the (skip+1)-th checkpoint temporary appears."""
    proc = subprocess.Popen(cmd, env=pds_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen: set[str] = set()
    while proc.poll() is None:
        for d in run.glob("stage*/checkpoints/.*"):
            if d.name not in seen:
                seen.add(d.name)
                if len(seen) > skip:
                    os.kill(proc.pid, signal.SIGKILL)
                    proc.wait()
                    return None
        time.sleep(0.0005)
    return proc.returncode


def _final_tensors(run: Path) -> dict[str, dict[str, bytes]]:
    return {stage: _tensors(run / stage / "checkpoints/last") for stage in ("stage1", "stage2")}


@pytest.mark.slow
def test_pds_train_killed_many_times_resumes_to_identical_weights(tiny_cli: dict[str, Path]) -> None:
    reference = _final_tensors(tiny_cli["run"])
    rng = random.Random(7)
    run = tiny_cli["root"] / "killed-run"
    args = ["train", tiny_cli["prepared"], run, "--config", tiny_cli["config"], "--seed", "3"]
    kills = 0
    for attempt in range(40):
        cmd = pds_cmd(*args, *(["--resume"] if (run / "config.yaml").exists() else []))
        # Kill points tied to the run's own progress (its n-th checkpoint write), so that a fast machine
        # cannot finish before the kills; every third attempt is killed at a random time instead.
        if attempt % 3 != 2:
            status = _kill_during_a_checkpoint_write(cmd, run, skip=rng.randrange(0, 6))
        else:
            status = _kill_later(cmd, rng.uniform(1.0, 6.0))
        if status == 0:
            break
        kills += 1
    else:
        pytest.fail("pds train never finished")
    got = _final_tensors(run)
    for stage in reference:
        diff = sorted(k for k in reference[stage] if reference[stage][k] != got[stage].get(k))
        assert not diff, f"{stage}: resumed weights differ from the uninterrupted run in {diff[:5]}"
    _no_stray_temporaries(run)
    assert kills >= 3, "the kill points were all after the run finished; tune the delays"


def _content(path: Path) -> bytes:
    """File bytes; JSON without timing fields (e.g. SynthesisSeconds), which differ run to run by design."""
    if path.suffix != ".json":
        return path.read_bytes()
    obj = json.loads(path.read_text())
    if isinstance(obj, dict):
        obj = {k: v for k, v in obj.items() if not k.endswith("Seconds")}
    return json.dumps(obj, sort_keys=True).encode()


def _tree_digest(root: Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(_content(p)).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name not in skip
    }


@pytest.mark.slow
def test_pds_prepare_killed_and_rerun_gives_the_clean_output(tiny_cli: dict[str, Path]) -> None:
    reference = _tree_digest(tiny_cli["prepared"], skip=("dataset_description.json",))
    rng = random.Random(3)
    out = tiny_cli["root"] / "prepared-killed"
    cmd = pds_cmd("prepare", tiny_cli["bids"], out, "--config", tiny_cli["config"])
    for _ in range(3):
        _kill_later(cmd, rng.uniform(4.0, 14.0))
        # Whatever a killed run left must not look like a finished result.
        assert not (out / "cohort.tsv").exists() or _tree_digest(out).keys() >= reference.keys()
    done = run_pds(["prepare", tiny_cli["bids"], out, "--config", tiny_cli["config"]])
    assert done.returncode == 0, done.stderr
    assert _tree_digest(out, skip=("dataset_description.json",)) == reference
    _no_stray_temporaries(out)


@pytest.mark.slow
def test_pds_synthesize_killed_and_rerun_gives_the_clean_output(tiny_cli: dict[str, Path]) -> None:
    clean = tiny_cli["root"] / "synth-clean"
    args = ["synthesize", tiny_cli["run"], tiny_cli["prepared"]]
    done = run_pds([*args, clean, "--samples", "2", "--direction", "fmri2dmri"])
    assert done.returncode == 0, done.stderr
    reference = _tree_digest(clean)
    out = tiny_cli["root"] / "synth-killed"
    rng = random.Random(5)
    cmd = pds_cmd(*args, out, "--samples", "2", "--direction", "fmri2dmri")
    for _ in range(3):
        _kill_later(cmd, rng.uniform(5.0, 12.0))
    done = run_pds([*args, out, "--samples", "2", "--direction", "fmri2dmri"])
    assert done.returncode == 0, done.stderr
    assert _tree_digest(out) == reference
    _no_stray_temporaries(out)
