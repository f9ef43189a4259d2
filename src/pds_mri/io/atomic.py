"""Atomic writers: every output goes to a temporary file in the same folder and is os.replace'd,
so a killed run never leaves a half-written file that looks complete."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import nibabel as nib

from pds_mri.errors import PdsError


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows (os.umask is set-and-return)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path`, on failure it is removed."""
    path = Path(path)
    suffix = "".join(path.suffixes) or ".tmp"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".part{suffix}", dir=path.parent)
    except OSError as exc:
        raise PdsError(f"cannot write {path}: {exc.strerror or exc}") from None
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; outputs get the usual permissions
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except OSError as exc:  # disk full, quota, read-only or vanished folder: a user-actionable one-liner
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise PdsError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike[str], text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_jsonable) + "\n")


def write_tsv(path: str | os.PathLike[str], rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), delimiter="\t", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: "" if row.get(c) is None else row.get(c) for c in columns})
    write_text(path, buf.getvalue())


def save_nifti(img: nib.Nifti1Image, path: str | os.PathLike[str]) -> None:
    """Save with a deterministic gzip header (no timestamp), so equal data gives equal bytes."""
    path = Path(path)
    if path.name.endswith(".gz"):
        raw = img.to_bytes()
        import gzip

        write_bytes(path, gzip.compress(raw, compresslevel=6, mtime=0))
    else:
        write_bytes(path, img.to_bytes())


def make_dir(path: str | os.PathLike[str]) -> Path:
    """mkdir -p, with an unwritable parent or a file in the way as the tool's one-line error."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PdsError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def _jsonable(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def is_part_file(path: Path) -> bool:
    """A temporary file of `atomic_path` (``.NAME.XXXX.partSUFFIX``)."""
    return path.name.startswith(".") and ".part" in path.name and path.is_file()


def remove_stale_parts(directory: Path) -> list[Path]:
    """Delete the temporary files that a run killed inside an atomic write (SIGKILL, power loss) left behind;
    only safe under the folder's output lock, when no other writer can own them. A subfolder that another
    command holds locked is its own output folder (`pds synthesize RUN PREPARED RUN/synth` while `pds calibrate
    RUN` takes the run's lock): its temporary files are that command's writes in flight and are left alone."""
    directory = Path(directory)
    stale = [p for p in directory.rglob(".*.part*") if is_part_file(p) and not _locked_below(p.parent, directory)]
    for path in stale:
        with contextlib.suppress(OSError):
            path.unlink()
    return stale


def _locked_below(folder: Path, top: Path) -> bool:
    """Whether `folder` or a folder between it and `top` (excluded) is held by an `output_lock` now."""
    try:
        import fcntl
    except ImportError:  # Windows: output_lock locks nothing there either
        return False
    while folder != top and top in folder.parents:
        try:
            fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(fd, fcntl.LOCK_UN)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        folder = folder.parent
    return False


@contextlib.contextmanager
def output_lock(directory: str | os.PathLike[str], command: str) -> Iterator[None]:
    """Hold an exclusive lock on an output folder, or refuse at once: two runs writing one folder would mix
    their files (each file whole, but the set inconsistent). The lock is taken on the folder itself (flock on
    its descriptor), so no lock file is left among the outputs; the OS drops it when the process dies, and the
    descriptor is not inherited by spawned workers, so a killed run never blocks the next one. POSIX only;
    elsewhere it does nothing.
    """
    try:
        import fcntl
    except ImportError:  # Windows
        yield
        return
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError as exc:
        raise PdsError(f"cannot write {directory}: {exc.strerror or exc}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PdsError(
                f"{directory} is in use by another `pds {command}`; wait for it to finish or choose another folder"
            ) from None
        (directory / ".pds.lock").unlink(missing_ok=True)  # left by versions that locked a file
        remove_stale_parts(directory)  # the lock is ours: any temporary file here is a killed run's leftover
        yield
    finally:
        os.close(fd)  # closing releases the lock
