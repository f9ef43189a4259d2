"""Every command × every file the tool wrote itself × {missing, empty, corrupt}: one line, exit 2, nothing made.

The tool's own files (cohort.tsv, sidecars, the run's JSON, checkpoints, metrics.json) can be deleted, emptied or
edited by hand between two commands. Each case copies a finished prepared directory, run, synthesis and
evaluation, damages one file, runs the command in-process and checks the error contract: exit status 2, a
one-line `pds: error:` naming the damaged file, no traceback, and no output folder created.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pds_mri.cli import main

SUB = "sub-002"  # a subject with both modalities in the session cohort (sim_bids: seed 7)
MAPS = {
    "fmri": f"{SUB}/func/{SUB}_task-rest_space-fmrigrid_desc-mean_boldmap",
    "dmri": f"{SUB}/dwi/{SUB}_space-dmrigrid_desc-mean_trace",
}
CKPT = "stage2/checkpoints/best"  # the checkpoint synthesis loads (best by validation)

#: (command, damaged file as "<dir>/<path>", which damages apply). dirs: prep, run, synth, eval.
ALL = ("missing", "empty", "corrupt")
CASES: list[tuple[str, str, tuple[str, ...]]] = [
    ("train", "prep/cohort.tsv", ALL),
    ("train", "prep/config.yaml", ALL),
    ("train", "prep/atlas-Dosenbach160_dseg.tsv", ALL),
    ("train", "prep/tpl-fmrigrid/anat/tpl-fmrigrid_atlas-Dosenbach160_dseg.nii.gz", ALL),
    ("train", f"prep/{MAPS['fmri']}.json", ALL),
    ("train", f"prep/{MAPS['dmri']}.nii.gz", ALL),
    ("train", f"prep/{SUB}/anat/{SUB}_space-dmrigrid_desc-brain_mask.nii.gz", ALL),
    ("train", f"prep/{SUB}/anat/{SUB}_space-fmrigrid_probseg.nii.gz", ALL),
    ("synthesize", "run/config.yaml", ALL),
    ("synthesize", "run/model.json", ("empty", "corrupt")),  # absent: a run from before model.json, i.e. pds
    ("synthesize", "run/split.json", ("empty", "corrupt")),  # absent: a run without priors needs no split
    ("synthesize", "run/normalisation.json", ALL),
    ("synthesize", f"run/{CKPT}/state.json", ALL),
    ("synthesize", f"run/{CKPT}/tensors.safetensors", ALL),
    ("synthesize", "prep/cohort.tsv", ALL),
    ("synthesize", f"prep/{MAPS['fmri']}.nii.gz", ALL),
    ("synthesize", f"prep/{MAPS['dmri']}.json", ALL),
    ("synthesize", f"prep/{SUB}/func/{SUB}_task-rest_desc-mean_boldmap.nii.gz", ALL),
    ("synthesize", f"prep/{SUB}/anat/{SUB}_space-dmrigrid_probseg.nii.gz", ALL),
    ("evaluate", "synth/synthesized.tsv", ALL),
    ("evaluate", f"synth/{SUB}/dwi/{SUB}_space-dmrigrid_desc-meanSynth_trace.nii.gz", ALL),
    ("evaluate", "prep/cohort.tsv", ALL),
    ("evaluate", f"prep/{MAPS['dmri']}.nii.gz", ALL),
    ("evaluate", f"prep/{SUB}/anat/{SUB}_space-dmrigrid_desc-brain_mask.nii.gz", ALL),
    ("report", "eval/metrics.json", ALL),
]
PARAMS = [(cmd, rel, damage) for cmd, rel, damages in CASES for damage in damages]


def _command(cmd: str, root: Path, config: Path) -> tuple[list[str], Path]:
    """argv and the output folder the command would create."""
    prep, run, synth, ev = (root / d for d in ("prep", "run", "synth", "eval"))
    out = root / "out"
    argv = {
        "train": ["train", prep, out, "--config", config],
        "synthesize": ["synthesize", run, prep, out, "--direction", "fmri2dmri", "--participant-label", SUB],
        "evaluate": ["evaluate", synth, prep, out],
        "report": ["report", ev, "--out", out / "report.html"],
    }[cmd]
    return [str(a) for a in argv], out


@pytest.fixture(scope="module")
def pipeline(tiny_cli: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The session's prepared directory and run, plus one synthesis and its evaluation."""
    root = tmp_path_factory.mktemp("own-files")
    synth, ev = root / "synth", root / "eval"
    argv = ["synthesize", tiny_cli["run"], tiny_cli["prepared"], synth, "--direction", "fmri2dmri"]
    assert main([str(a) for a in [*argv, "--participant-label", SUB]]) == 0
    assert main([str(a) for a in ["evaluate", synth, tiny_cli["prepared"], ev]]) == 0
    return {
        "prep": tiny_cli["prepared"],
        "run": tiny_cli["run"],
        "synth": synth,
        "eval": ev,
        "config": tiny_cli["config"],
    }


def _damage(path: Path, damage: str) -> None:
    if damage == "missing":
        path.unlink()
    elif damage == "empty":
        path.write_bytes(b"")
    else:  # the head of the file survives, the rest is garbage (a torn copy, an editor accident)
        head = path.read_bytes()[:40]
        path.write_bytes(head + b"\x00\xff{garbage\t\n")


@pytest.mark.parametrize(("cmd", "rel", "damage"), PARAMS, ids=[f"{c}-{r.split('/')[-1]}-{d}" for c, r, d in PARAMS])
def test_damaged_own_file_is_one_line_and_creates_nothing(
    pipeline: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], cmd: str, rel: str, damage: str
) -> None:
    root = tmp_path / "case"
    top = rel.split("/")[0]
    shutil.copytree(pipeline[top], root / top)
    for other in {"prep", "run", "synth", "eval"} - {top}:  # read-only for this case: a link is enough
        (root / other).symlink_to(pipeline[other], target_is_directory=True)
    target = root / rel
    assert target.is_file(), f"fixture lacks {rel}"
    _damage(target, damage)
    argv, out = _command(cmd, root, pipeline["config"])
    capsys.readouterr()
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, f"exit {code}; stderr: {err[-400:]}"
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("pds: error:")]
    assert len(lines) == 1, err[-400:]
    assert Path(rel).name in lines[0] or str(target.parent) in lines[0], f"does not name {rel}: {lines[0]}"
    assert not out.exists(), f"{cmd} created {out} although it refused"
