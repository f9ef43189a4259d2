"""Disk full and read-only output: a clear one-line error, earlier outputs intact, no temporaries left.

Disk full is simulated two ways: RLIMIT_FSIZE in a subprocess (works anywhere, root included: the write
fails with EFBIG), and a tiny tmpfs when this machine lets the test mount one. Read-only output uses a
chmod'ed folder (skipped as root, where chmod does not block writes) or a read-only tmpfs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from pds_mri.errors import PdsError
from pds_mri.io.atomic import save_nifti, write_text
from pds_mri.training import checkpoint as ckpt

from ._helpers import REPO, assert_one_line_error, pds_env

FSIZE_SCRIPT = textwrap.dedent(
    """
    import resource, signal, sys
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a too-big write then fails with EFBIG instead of killing
    resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[2]), int(sys.argv[2])))
    from pathlib import Path
    import numpy as np, nibabel as nib, torch
    from pds_mri.errors import PdsError
    from pds_mri.io.atomic import save_nifti, write_text
    from pds_mri.training import checkpoint as ckpt
    out, what = Path(sys.argv[1]), sys.argv[3]
    try:
        if what == "text":
            write_text(out / "cohort.tsv", "x" * 200_000)
        elif what == "nifti":
            save_nifti(nib.Nifti1Image(np.random.default_rng(0).random((40, 40, 40), np.float32), np.eye(4)),
                       out / "map.nii")
        else:
            ckpt.save_checkpoint(out / "checkpoints/last", {"w": torch.zeros(100_000)}, {"trainer": {"step": 2}})
    except PdsError as exc:
        print(f"pds: error: {exc}", file=sys.stderr)
        sys.exit(2)
    """
)


def _earlier_outputs(out: Path) -> dict[Path, bytes]:
    import torch

    write_text(out / "cohort.tsv", "participant_id\nsub-01\n")
    save_nifti(__import__("nibabel").Nifti1Image(np.ones((3, 3, 3), np.float32), np.eye(4)), out / "map.nii")
    ckpt.save_checkpoint(out / "checkpoints/last", {"w": torch.ones(4)}, {"trainer": {"step": 1}})
    return {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}


def _assert_intact(out: Path, before: dict[Path, bytes]) -> None:
    now = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert now == before, "an earlier output changed, or a partial/temporary file was left"
    assert ckpt.load_checkpoint(out / "checkpoints/last").state["trainer"]["step"] == 1


@pytest.mark.parametrize("what", ["text", "nifti", "checkpoint"])
def test_disk_full_is_a_clear_error_and_earlier_outputs_survive(tmp_path: Path, what: str) -> None:
    out = tmp_path / "out"
    before = _earlier_outputs(out)
    proc = subprocess.run(
        [sys.executable, "-c", FSIZE_SCRIPT, str(out), "65536", what],
        env=pds_env(),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pds: error: cannot write"), proc.stderr[-2000:]
    _assert_intact(out, before)


def _mount_tmpfs(target: Path, options: str) -> bool:
    target.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)], capture_output=True)
    except (FileNotFoundError, PermissionError):
        return False
    return done.returncode == 0


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    target = tmp_path / f"tmpfs-{uuid.uuid4().hex[:6]}"
    if not _mount_tmpfs(target, "size=256k"):
        pytest.skip("cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN)")
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], capture_output=True)


def test_a_full_filesystem_is_a_clear_error(small_tmpfs: Path) -> None:
    import torch

    out = small_tmpfs / "out"
    before = _earlier_outputs(out)
    for attempt in (
        lambda: write_text(out / "cohort.tsv", "y" * 400_000),
        lambda: save_nifti(
            __import__("nibabel").Nifti1Image(np.zeros((50, 50, 50), np.float32), np.eye(4)), out / "map.nii"
        ),
        lambda: ckpt.save_checkpoint(out / "checkpoints/last", {"w": torch.zeros(200_000)}, {"trainer": {"step": 9}}),
    ):
        with pytest.raises(PdsError) as info:
            attempt()
        assert_one_line_error(info.value)
        assert "No space left" in str(info.value)
    _assert_intact(out, before)


def test_read_only_output_is_a_clear_error(tmp_path: Path) -> None:
    import torch

    out = tmp_path / "out"
    before = _earlier_outputs(out)
    if os.geteuid() == 0:
        target = tmp_path / "ro"
        if not _mount_tmpfs(target, "size=1m"):
            pytest.skip("running as root (chmod does not block writes) and cannot mount a read-only tmpfs")
        try:
            before = _earlier_outputs(target / "out")
            subprocess.run(["mount", "-o", "remount,ro", str(target)], check=True, capture_output=True)
            _check_read_only(target / "out", before, torch)
        finally:
            subprocess.run(["umount", "-l", str(target)], capture_output=True)
        return
    for d in [out, *(p for p in out.rglob("*") if p.is_dir())]:
        d.chmod(0o555)
    try:
        _check_read_only(out, before, torch)
    finally:
        for d in [out, *(p for p in out.rglob("*") if p.is_dir())]:
            d.chmod(0o755)


def _check_read_only(out: Path, before: dict[Path, bytes], torch) -> None:  # type: ignore[no-untyped-def]
    for attempt in (
        lambda: write_text(out / "cohort.tsv", "new"),
        lambda: write_text(out / "newdir/x.json", "{}"),
        lambda: ckpt.save_checkpoint(out / "checkpoints/last", {"w": torch.zeros(3)}, {"trainer": {"step": 9}}),
    ):
        with pytest.raises(PdsError) as info:
            attempt()
        assert_one_line_error(info.value)
    _assert_intact(out, before)


def test_outputs_get_the_permissions_of_a_plain_write(tmp_path: Path) -> None:
    """Temporary files are created 0600 (mkstemp) / 0700 (mkdtemp); the results must follow the umask."""
    import torch

    old = os.umask(0o022)
    try:
        write_text(tmp_path / "cohort.tsv", "x\n")
        ckpt.save_checkpoint(tmp_path / "checkpoints/last", {"w": torch.ones(2)}, {"trainer": {"step": 1}})
    finally:
        os.umask(old)
    assert (tmp_path / "cohort.tsv").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "checkpoints/last").stat().st_mode & 0o777 == 0o755
