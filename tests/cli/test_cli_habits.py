"""The habits users bring from fMRIPrep and other BIDS Apps (#15 item 1): choices checked at parse time,
readable help, `--device`, and `--omp-nthreads` / `--nprocs` capping every thread pool."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from pds_mri import domain
from pds_mri.cli import app, main
from pds_mri.errors import PdsError
from pds_mri.evaluation.classifiers import CLASSIFIERS
from pds_mri.preprocess.maps import DMRI_MAPS, FMRI_MAPS
from pds_mri.threads import THREAD_ENV, limit_threads, threads_per_process
from pds_mri.training.distributed import init_distributed

COMMANDS = (
    "simulate", "prepare", "train", "synthesize", "calibrate", "evaluate", "export",
    "benchmark", "diagnose", "report", "demo",
)  # fmt: skip


def _args(command: str, tmp: Path) -> list[str]:
    positional = {"synthesize": 3, "evaluate": 3, "report": 1, "demo": 1, "simulate": 1}.get(command, 2)
    return [command, *(str(tmp / f"arg{i}") for i in range(positional))]


BAD_CHOICES = [
    ("prepare", "--fmri-map", "reho", FMRI_MAPS.names()),
    ("prepare", "--dmri-map", "ad", DMRI_MAPS.names()),
    ("prepare", "--preset", "gpu", domain.PRESETS),
    ("prepare", "--registration", "bspline", domain.REGISTRATIONS),
    ("train", "--stage", "3", domain.TRAIN_STAGES),
    ("train", "--model", "vae", ("pds", "unet")),
    ("train", "--device", "tpu", domain.DEVICES),
    ("synthesize", "--direction", "t1", domain.DIRECTION_CHOICES),
    ("synthesize", "--mode", "median", domain.SYNTHESIS_MODES),
    ("synthesize", "--device", "xla", domain.DEVICES),
    ("diagnose", "--classifier", "rf", CLASSIFIERS.names()),
    ("diagnose", "--models", "pds,vae", ("pds", "unet")),
    ("benchmark", "--models", "vae", ("pds", "unet")),
]


@pytest.mark.parametrize(("command", "option", "value", "choices"), BAD_CHOICES)
def test_a_bad_choice_is_refused_at_parse_time_naming_the_choices(
    command: str, option: str, value: str, choices: tuple[str, ...], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 2 before any input is read (the inputs here do not exist, which would be a different error)."""
    assert main([*_args(command, tmp_path), option, value]) == 2
    err = capsys.readouterr().err
    assert f"Invalid value for '{option}'" in err and value.split(",")[-1] in err
    assert all(choice in err for choice in choices)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", COMMANDS)
def test_help_shows_no_python_type_names(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    for python_name in ("<bool>", "<str>", "<int", "<float", "list[", "<path>"):
        assert python_name not in out, (command, python_name)


def test_help_lists_the_choices_and_the_new_options(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # one line per option, so each choice list is unbroken
    assert main(["prepare", "--help"]) == 0
    out = capsys.readouterr().out
    assert "mean|alff|falff" in out and "auto|none|affine" in out and "--nprocs" in out and "--omp-nthreads" in out
    assert main(["synthesize", "--help"]) == 0
    out = capsys.readouterr().out
    assert "auto|fmri2dmri|dmri2fmri" in out and "auto|cpu|cuda|mps" in out


def test_every_command_that_computes_takes_omp_nthreads() -> None:
    import typer.main

    group = typer.main.get_command(app)
    for name in ("prepare", "train", "synthesize", "evaluate", "benchmark", "diagnose"):
        options = {opt for p in group.commands[name].params for opt in p.opts}  # type: ignore[attr-defined]
        assert "--omp-nthreads" in options, name


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("command", ["train", "synthesize"])
def test_device_cuda_without_cuda_is_one_line_and_writes_nothing(
    command: str, prepared: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if command == "train":
        args = ["train", str(prepared), str(tmp_path / "run"), "--device", "cuda"]
    else:  # a run directory is checked later than the device: none is needed to see the refusal
        args = ["synthesize", str(tmp_path / "run"), str(prepared), str(tmp_path / "out"), "--device", "cuda"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--device cuda" in err and "CUDA is not available" in err
    assert list(tmp_path.iterdir()) == []


def test_init_distributed_resolves_each_device() -> None:
    assert init_distributed("cpu").device == torch.device("cpu")
    assert init_distributed("auto").device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.backends.mps.is_available():
        with pytest.raises(PdsError, match="--device mps: Apple MPS is not available"):
            init_distributed("mps")
    with pytest.raises(PdsError, match="--device tpu: choose auto, cpu, cuda or mps"):
        init_distributed("tpu")


@pytest.fixture
def _restore_threads() -> Iterator[None]:
    """Environment, torch and BLAS pools as they were (a capped pool would leak into later tests)."""
    from threadpoolctl import threadpool_info, threadpool_limits

    env = {name: os.environ.get(name) for name in THREAD_ENV}
    pools = {pool["user_api"]: pool["num_threads"] for pool in threadpool_info()}
    torch_threads = torch.get_num_threads()
    yield
    for name, value in env.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    threadpool_limits(pools)
    torch.set_num_threads(torch_threads)


@pytest.mark.usefixtures("_restore_threads")
def test_limit_threads_caps_torch_blas_and_the_environment_of_children() -> None:
    from threadpoolctl import threadpool_info

    torch.set_num_threads(2)
    limit_threads(1)
    assert torch.get_num_threads() == 1
    assert all(os.environ[name] == "1" for name in THREAD_ENV)
    assert all(pool["num_threads"] == 1 for pool in threadpool_info())
    child = "import torch; print(torch.get_num_threads())"  # a started process reads the environment
    assert subprocess.run([sys.executable, "-c", child], capture_output=True, text=True).stdout.strip() == "1"
    with pytest.raises(ValueError, match=">= 1"):
        limit_threads(0)


def test_threads_per_process_shares_the_available_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    from pds_mri import threads

    monkeypatch.setattr(threads, "available_cores", lambda: 16)
    assert threads_per_process(4) == 4 and threads_per_process(3) == 5 and threads_per_process(32) == 1
    assert threads_per_process(4, omp_nthreads=2) == 2 and threads_per_process(1) == 16


@pytest.mark.usefixtures("_restore_threads")
def test_prepare_omp_nthreads_and_nprocs_cap_the_workers(
    sim_bids: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--nprocs 2 --omp-nthreads 1`: each spawned worker runs with single-threaded pools (it records what it
    saw), and `--nprocs` is `--n-jobs` under its BIDS-App name."""
    from pds_mri.preprocess import cohort_jobs

    seen = tmp_path / "seen"
    seen.mkdir()
    monkeypatch.setenv("PDS_TEST_THREADS_SEEN", str(seen))  # read by the worker initializer below
    monkeypatch.setattr(cohort_jobs, "limit_threads", _limit_and_record)
    out = tmp_path / "out"
    argv = ["prepare", str(sim_bids), str(out), "--participant-label", "001", "002", "--nprocs", "2"]
    assert main([*argv, "--omp-nthreads", "1"]) == 0
    records = [p.read_text().split() for p in seen.iterdir()]
    assert records and all(r == ["1", "1", "1"] for r in records)  # limit, torch threads, OMP_NUM_THREADS
    assert len((out / "cohort.tsv").read_text().splitlines()) == 3


def _limit_and_record(n: int) -> None:
    """The real `limit_threads`, then what the worker's pools report (a spawned worker imports this module)."""
    limit_threads(n)
    import torch as worker_torch

    record = f"{n} {worker_torch.get_num_threads()} {os.environ['OMP_NUM_THREADS']}"
    (Path(os.environ["PDS_TEST_THREADS_SEEN"]) / str(os.getpid())).write_text(record)


def test_prepare_takes_session_labels_and_a_bids_filter_file(sim_bids: Path, tmp_path: Path) -> None:
    """A filter that matches no BOLD run prepares the subjects' dMRI only; the options are recorded."""
    import csv
    import json

    from pds_mri.cli import bids_app_argv

    assert bids_app_argv(["prepare", "b", "o", "--session-label", "01", "ses-02", "--n-jobs", "1"]) == [
        "prepare", "b", "o", "--session-label", "01", "--session-label", "ses-02", "--n-jobs", "1",
    ]  # fmt: skip
    filters = tmp_path / "filters.json"
    filters.write_text(json.dumps({"bold": {"task": "motor"}}))
    out = tmp_path / "out"
    argv = ["prepare", str(sim_bids), str(out), "--participant-label", "001", "002", "--bids-filter-file", str(filters)]
    assert main(argv) == 0
    rows = list(csv.DictReader((out / "cohort.tsv").read_text().splitlines(), delimiter="\t"))
    assert [r["participant_id"] for r in rows] == ["sub-001", "sub-002"]
    assert all(not r["fmri"] and r["dmri"] for r in rows)
    options = json.loads((out / "dataset_description.json").read_text())["GeneratedBy"][0]["Options"]
    assert options["bids_filter_file"] == str(filters) and options["session_labels"] == []
    missing = tmp_path / "out2"
    assert main(["prepare", str(sim_bids), str(missing), "--session-label", "01"]) == 2 and not missing.exists()


@pytest.fixture
def _restore_logging() -> Iterator[None]:
    import logging

    from pds_mri.progress import console

    level, quiet = logging.getLogger("pds_mri").level, console.quiet
    yield
    logging.getLogger("pds_mri").setLevel(level)
    console.quiet = quiet


@pytest.mark.usefixtures("_restore_logging")
def test_quiet_silences_messages_and_verbose_and_quiet_contradict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pds_mri.cli import bids_app_argv

    assert bids_app_argv(["simulate", "out", "--quiet"]) == ["--quiet", "simulate", "out"]
    assert bids_app_argv(["--verbose", "train", "a", "b"]) == ["--verbose", "train", "a", "b"]
    assert main(["simulate", str(tmp_path / "loud"), "--subjects", "1"]) == 0
    assert "simulated 1 subjects" in capsys.readouterr().err
    assert main(["simulate", str(tmp_path / "quiet"), "--subjects", "1", "--quiet"]) == 0
    assert capsys.readouterr().err == "" and (tmp_path / "quiet" / "participants.tsv").is_file()
    assert main(["simulate", str(tmp_path / "both"), "--quiet", "--verbose"]) == 2
    assert "contradict" in capsys.readouterr().err and not (tmp_path / "both").exists()


@pytest.mark.usefixtures("_restore_logging")
def test_verbose_logs_info_on_a_terminal_too(monkeypatch: pytest.MonkeyPatch) -> None:
    import logging

    from pds_mri.progress import configure_logging

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    configure_logging()
    assert logging.getLogger("pds_mri").level == logging.WARNING  # the bar shows progress
    configure_logging(verbosity=1)
    assert logging.getLogger("pds_mri").level == logging.INFO
    configure_logging(verbosity=-1)
    assert logging.getLogger("pds_mri").level == logging.WARNING
