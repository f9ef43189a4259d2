"""The `pds` command line, called in-process through main(argv) as nibabel tests its CLIs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pds_mri import __version__
from pds_mri.cli import main


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert __version__ in capsys.readouterr().out


@pytest.mark.parametrize("command", ["simulate", "prepare", "demo"])
def test_help_explains_with_an_example(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([command, "--help"]) == 0
    assert "Example" in capsys.readouterr().out or command == "demo"


def test_missing_input_is_one_line_without_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prepare", str(tmp_path / "nope"), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("pds: error:") and "nope" in err and "Traceback" not in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    from pds_mri.errors import InputError

    with pytest.raises(InputError):
        main(["--debug", "prepare", str(tmp_path / "nope"), str(tmp_path / "out")])
    with pytest.raises(InputError):  # after the subcommand too, as users type it
        main(["prepare", str(tmp_path / "nope"), str(tmp_path / "out"), "--debug"])


def test_bids_app_argv_spreads_space_separated_labels_and_moves_debug() -> None:
    from pds_mri.cli import bids_app_argv

    argv = ["prepare", "bids", "out", "participant", "--participant-label", "01", "sub-02", "--n-jobs", "2", "--debug"]
    assert bids_app_argv(argv) == [
        "--debug", "prepare", "bids", "out", "participant",
        "--participant-label", "01", "--participant-label", "sub-02", "--n-jobs", "2",
    ]  # fmt: skip
    assert bids_app_argv(["prepare", "--participant-label", "01", "--", "--x"]) == [
        "prepare", "--participant-label", "01", "--", "--x",
    ]  # fmt: skip


def test_prepare_takes_the_bids_app_command_line(sim_bids: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["prepare", str(sim_bids), str(out), "group"]) == 2 and not out.exists()
    assert main(["prepare", str(sim_bids), str(out), "participant", "--participant-label", "002", "sub-003"]) == 0
    ids = [line.split("\t")[0] for line in (out / "cohort.tsv").read_text().splitlines()[1:]]
    assert ids == ["sub-002", "sub-003"]


def test_bad_option_value_is_a_usage_error(tmp_path: Path) -> None:
    assert main(["simulate", str(tmp_path), "--subjects", "0"]) == 2


def test_invalid_cohort_reports_every_problem_then_skip_invalid_proceeds(
    sim_bids: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bids = tmp_path / "bids"
    shutil.copytree(sim_bids, bids)
    bolds = sorted(bids.glob("sub-*/func/*_bold.nii.gz"))
    dwis = sorted(bids.glob("sub-*/dwi/*_dwi.nii.gz"))
    bolds[0].write_bytes(b"")  # empty file
    dwis[-1].write_bytes(dwis[-1].read_bytes()[:2000])  # truncated
    out = tmp_path / "out"
    assert main(["prepare", str(bids), str(out)]) == 2
    err = capsys.readouterr().err
    assert bolds[0].name in err and dwis[-1].name in err and "2 invalid" in err
    assert not (out / "cohort.tsv").exists()

    assert main(["prepare", str(bids), str(out), "--skip-invalid"]) == 0
    cohort = (out / "cohort.tsv").read_text().splitlines()
    bad_subjects = {bolds[0].name.split("_")[0], dwis[-1].name.split("_")[0]}
    assert len(cohort) == 1 + 6 - len(bad_subjects)
    assert not any(line.split("\t")[0] in bad_subjects for line in cohort[1:])


def test_benchmark_models_accept_commas_and_unknown_names_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["benchmark", str(tmp_path / "prep"), str(tmp_path / "b"), "--models", "pds,bogus", "--folds", "2"]) == 2
    )
    err = capsys.readouterr().err
    assert "'bogus' is not a model" in err and "unet" in err  # at parse time, before anything runs
    assert not (tmp_path / "b").exists()


def test_ctrl_c_exits_130_not_0(tmp_path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    """Regression: Typer returns 130 for KeyboardInterrupt under standalone_mode=False and main() dropped it,
    so `pds ... && next` carried on after an interrupt."""
    from pds_mri.cli import main
    from pds_mri.workflows import simulate

    def interrupted(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt

    monkeypatch.setattr(simulate, "run_simulate", interrupted)
    assert main(["simulate", str(tmp_path / "sim"), "--subjects", "1"]) == 130
    assert "Interrupted." in capsys.readouterr().err


def test_training_stopped_by_a_signal_exits_75_with_one_line(tmp_path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    """A SLURM batch script requeues on 75 (EX_TEMPFAIL); 0 would read as "finished", 2 as "broken"."""
    from pds_mri.cli import main
    from pds_mri.errors import StoppedBySignal
    from pds_mri.workflows import train

    def stopped(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise StoppedBySignal("training stopped by SIGTERM at step 3 of 9: checkpoint saved; continue with --resume")

    monkeypatch.setattr(train, "run_train", stopped)
    assert main(["train", str(tmp_path / "prepared"), str(tmp_path / "run")]) == 75
    err = capsys.readouterr().err.strip()
    assert err == "pds: training stopped by SIGTERM at step 3 of 9: checkpoint saved; continue with --resume"


def test_training_log_lines_reach_stderr_in_a_batch_job(capsys) -> None:  # type: ignore[no-untyped-def]
    """Regression: logging was never configured, so with stderr redirected (no progress bar) a training
    printed nothing between the stage headers."""
    import logging

    from pds_mri.progress import configure_logging

    configure_logging()  # stderr is captured here, i.e. not a terminal: INFO lines are shown
    logging.getLogger("pds_mri.training.trainer").info("step %d/%d loss %.4g", 10, 400, 0.5)
    err = capsys.readouterr().err
    assert "INFO pds_mri.training.trainer: step 10/400 loss 0.5" in err
    configure_logging()  # idempotent: still one line per record
    logging.getLogger("pds_mri.training.trainer").info("once")
    assert capsys.readouterr().err.count("once") == 1


@pytest.fixture
def _restore_backends():  # type: ignore[no-untyped-def]
    import os

    import torch

    from pds_mri.backends import backend_flags

    before, env = backend_flags(), os.environ.get("CUBLAS_WORKSPACE_CONFIG")
    yield
    torch.backends.cudnn.deterministic = before["cudnn_deterministic"]
    torch.backends.cudnn.benchmark = before["cudnn_benchmark"]
    torch.backends.cuda.matmul.allow_tf32 = before["matmul_tf32"]
    torch.backends.cudnn.allow_tf32 = before["cudnn_tf32"]
    torch.use_deterministic_algorithms(before["deterministic_algorithms"])
    if env is None:
        os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)


@pytest.mark.usefixtures("_restore_backends")
@pytest.mark.parametrize("command", ["train", "synthesize"])
def test_deterministic_sets_the_backend_policy_and_tf32_is_the_default(tmp_path: Path, command: str) -> None:
    """The policy is applied before anything else, so even a refused command (no such input) has set it."""
    import os

    from pds_mri.backends import backend_flags

    args = [command, str(tmp_path / "a"), str(tmp_path / "b")] + (
        [str(tmp_path / "c")] if command == "synthesize" else []
    )
    assert main([*args, "--deterministic"]) == 2
    assert backend_flags() == {
        "cudnn_deterministic": True,
        "cudnn_benchmark": False,
        "matmul_tf32": False,
        "cudnn_tf32": False,
        "deterministic_algorithms": True,
    }
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    assert main(args) == 2
    flags = backend_flags()
    assert flags["matmul_tf32"] and flags["cudnn_tf32"]
    assert not flags["cudnn_deterministic"] and not flags["deterministic_algorithms"]


def test_a_bad_diagnosis_map_is_refused_before_anything_is_written(
    sim_bids: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "prepared"
    assert main(["prepare", str(sim_bids), str(out), "--diagnosis-map", "SMC=healthy"]) == 2
    err = capsys.readouterr().err
    assert "--diagnosis-map: SMC -> 'healthy'" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
