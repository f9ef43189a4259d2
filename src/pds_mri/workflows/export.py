"""`pds export RUN_DIR MODEL.zip`: a trained model as one file that `pds synthesize` takes on another machine.

The archive holds what synthesis needs and nothing it does not: the run's own top-level files (config,
model, normalisation, split, priors, uncertainty scale, model card) and, per stage, only the checkpoint the
weights are taken from (`best`, else `last`; no intermediate step checkpoints, no logs). A manifest lists
every member with its SHA-256; reading an archive checks every name (nothing may leave the extraction
folder) and every hash before anything is used, so a damaged or crafted archive is refused in one line.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from pds_mri import __version__
from pds_mri.errors import InputError, PdsError
from pds_mri.io.hashing import file_sha256
from pds_mri.progress import console

MANIFEST = "pds_model.json"
FORMAT = 1
STAGES = ("stage1", "stage2")


def run_export(run_dir: Path, archive: Path) -> Path:
    """Write `archive` (a new .zip) from `run_dir`; atomic (a .part file renamed when complete)."""
    from pds_mri.training.weights import trained_checkpoint
    from pds_mri.workflows.run import read_model_name

    run_dir, archive = Path(run_dir), Path(archive)
    if archive.suffix.lower() != ".zip":
        raise PdsError(f"{archive}: the model archive must end in .zip")
    if archive.exists():
        raise PdsError(f"{archive} exists; choose a new file name (an archive is never overwritten)")
    if not archive.parent.is_dir():
        raise PdsError(f"{archive.parent}: folder not found")
    name = read_model_name(run_dir)  # one-line error for anything that is not a run directory
    members = sorted(p.name for p in run_dir.iterdir() if p.is_file() and not p.name.startswith("."))
    for stage in STAGES:
        checkpoint = trained_checkpoint(run_dir / stage)
        if checkpoint is not None:
            members += sorted(str(p.relative_to(run_dir)) for p in checkpoint.iterdir() if p.is_file())
    if not any(m.startswith("stage1/") for m in members):
        raise PdsError(f"{run_dir}: no trained checkpoint to export; train first with `pds train`")
    manifest = {
        "format": FORMAT,
        "tool": f"pds-mri {__version__}",
        "model": name,
        "files": {m: file_sha256(run_dir / m) for m in members},
    }
    part = archive.with_name(archive.name + ".part")
    try:
        with zipfile.ZipFile(part, "w") as zf:
            zf.writestr(MANIFEST, json.dumps(manifest, indent=2), compress_type=zipfile.ZIP_DEFLATED)
            for member in members:
                compress = zipfile.ZIP_STORED if member.endswith(".safetensors") else zipfile.ZIP_DEFLATED
                zf.write(run_dir / member, member, compress_type=compress)
        os.replace(part, archive)
    finally:
        part.unlink(missing_ok=True)
    size = archive.stat().st_size / 2**20
    console.print(f"exported the '{name}' model ({len(members)} files, {size:.1f} MiB) -> {archive}")
    return archive


def is_model_archive(path: Path) -> bool:
    return Path(path).is_file() and Path(path).suffix.lower() == ".zip"


@contextlib.contextmanager
def unpacked_model(archive: Path) -> Iterator[Path]:
    """The archive's run directory, extracted into a temporary folder (removed afterwards) once every member
    name and hash has been checked."""
    archive = Path(archive)
    if not zipfile.is_zipfile(archive):
        raise InputError(archive, "not a zip archive (make one with `pds export RUN_DIR MODEL.zip`)")
    with tempfile.TemporaryDirectory(prefix="pds-model-") as tmp, zipfile.ZipFile(archive) as zf:
        names = zf.namelist()
        if MANIFEST not in names:
            raise InputError(archive, f"not a pds model archive ({MANIFEST} missing)")
        try:
            manifest = json.loads(zf.read(MANIFEST).decode("utf-8"))
            files = manifest["files"]
            if manifest.get("format") != FORMAT or not isinstance(files, dict):
                raise ValueError(f"format {manifest.get('format')!r}")
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
            raise InputError(archive, f"{MANIFEST} is damaged ({exc})") from None
        listed = set(files) | {MANIFEST}
        for member in names:
            if not _safe(member):
                raise InputError(archive, f"member '{member}' would be written outside the model folder")
            if member not in listed:
                raise InputError(archive, f"member '{member}' is not in {MANIFEST}")
        root = Path(tmp)
        for member, digest in files.items():
            if not _safe(member) or member not in names:
                raise InputError(archive, f"{MANIFEST} lists '{member}', which the archive does not hold")
            target = root / member
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(member) as src, target.open("wb") as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
            if file_sha256(target) != digest:
                raise InputError(archive, f"member '{member}' does not match its SHA-256 (damaged archive)")
        yield root


def _safe(member: str) -> bool:
    path = PurePosixPath(member)
    return (
        bool(member) and not path.is_absolute() and ".." not in path.parts and "\\" not in member and ":" not in member
    )
