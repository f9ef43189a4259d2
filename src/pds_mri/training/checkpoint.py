"""Checkpoints without pickle: tensors in one safetensors file, everything else in JSON.

RUN_DIR/checkpoints/{name}/           name: step-000100, last, best
  tensors.safetensors                 model, EMA, optimiser-state tensors, RNG states (uint8)
  state.json                          config, trainer state, optimiser param groups, LR scheduler, the
                                      SHA-256 and size of tensors.safetensors

Why: a pickle checkpoint executes code when loaded, so a checkpoint downloaded from a colleague could
run anything; safetensors cannot. A checkpoint directory is written in full under a temporary name and
renamed into place, so a kill mid-write leaves the previous good checkpoint of that name intact, and
the recorded hash turns silent corruption into a clear error. torch.load is never called.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import shutil
import tempfile
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pds_mri.errors import InputError, PdsError
from pds_mri.io.atomic import current_umask
from pds_mri.io.hashing import file_sha256

TENSORS_FILE = "tensors.safetensors"
STATE_FILE = "state.json"
FORMAT = "pds-mri-checkpoint"
FORMAT_VERSION = 1
CHECKPOINTS = "checkpoints"
PICKLE_SUFFIXES = frozenset({".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".bin", ".tar"})


@dataclass
class Checkpoint:
    """A verified checkpoint: its directory, tensors (on the requested device), JSON state and hash."""

    path: Path
    tensors: dict[str, torch.Tensor]
    state: dict[str, Any]
    sha256: str

    def group(self, prefix: str) -> dict[str, torch.Tensor]:
        """Tensors saved under `prefix.` with the prefix removed (e.g. 'model' → a state dict)."""
        return strip_prefix(self.tensors, prefix)


def checkpoint_dir(run_dir: str | os.PathLike[str], name: str) -> Path:
    return Path(run_dir) / CHECKPOINTS / name


def step_name(step: int) -> str:
    return f"step-{step:06d}"


# ---------------------------------------------------------------------------------------------- save


def save_checkpoint(
    directory: str | os.PathLike[str],
    tensors: Mapping[str, torch.Tensor],
    state: Mapping[str, Any],
    *,
    aliases: Iterable[str | os.PathLike[str]] = (),
) -> str:
    """Write a checkpoint to `directory` (and identical copies to `aliases`); returns its SHA-256.

    Each directory is built under a temporary name beside it, flushed to disk, then renamed into place.
    """
    from safetensors.torch import save as st_save

    # Clone: safetensors refuses tensors that share storage (tied weights) or are not contiguous.
    flat = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    blob = st_save(flat, metadata={"format": FORMAT})
    sha = hashlib.sha256(blob).hexdigest()
    full_state = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "tensors_file": TENSORS_FILE,
        "tensors_sha256": sha,
        "tensors_bytes": len(blob),
        **state,
    }
    state_bytes = (json.dumps(_jsonable(full_state), indent=2, allow_nan=True) + "\n").encode("utf-8")
    for target in [Path(directory), *(Path(a) for a in aliases)]:
        try:
            _write_dir(target, {TENSORS_FILE: blob, STATE_FILE: state_bytes})
        except OSError as exc:  # disk full, quota, read-only: the previous checkpoint is intact
            raise PdsError(f"cannot write checkpoint {target}: {exc.strerror or exc}") from None
    return sha


def _write_dir(directory: Path, files: Mapping[str, bytes]) -> None:
    parent = directory.parent
    parent.mkdir(parents=True, exist_ok=True)
    _recover(directory)
    _sweep(parent)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.tmp-", dir=parent))
    os.chmod(tmp, 0o777 & ~current_umask())  # mkdtemp makes 0700 folders; colleagues may need to read it
    try:
        for name, data in files.items():
            with open(tmp / name, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        _fsync_dir(tmp)
        if directory.exists():
            # os.replace cannot overwrite a non-empty directory: move the old one aside, then swap.
            # A kill between the two renames leaves `.name.old-*`, which _recover puts back.
            old = parent / f".{directory.name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(directory, old)
            os.replace(tmp, directory)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, directory)
        _fsync_dir(parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _recover(directory: Path) -> None:
    """If a save was killed between its two renames, restore the previous checkpoint of that name."""
    if directory.exists():
        return
    olds = sorted(directory.parent.glob(f".{directory.name}.old-*"), key=lambda p: p.stat().st_mtime)
    if olds:
        os.replace(olds[-1], directory)


def _sweep(parent: Path) -> None:
    """Remove what killed saves left beside their checkpoints (one writer per run directory, rank 0).

    `.{name}.tmp-*` is a half-written copy of any checkpoint, possibly of one never saved again (a kill
    while writing step-N, then a resume from `last` = step N). `.{name}.old-*` is a previous version,
    stale once `{name}` itself is in place (a kill after the swap, before the old copy was removed).
    """
    for stale in parent.glob(".*.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    for old in parent.glob(".*.old-*"):
        if (parent / old.name[1:].rsplit(".old-", 1)[0]).is_dir():
            shutil.rmtree(old, ignore_errors=True)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not supported on every filesystem / OS
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _jsonable(obj: Any) -> Any:
    """Tuples → lists, numpy scalars/arrays → Python; anything else non-JSON is a bug, not a pickle."""
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise PdsError(f"checkpoint state holds a {type(obj).__name__}, which is not JSON; store tensors apart")


# ---------------------------------------------------------------------------------------------- load


def refuse_pickles(directory: str | os.PathLike[str]) -> None:
    """Raise if any file in the checkpoint directory is (or is named like) a pickle or torch zip file."""
    for path in sorted(Path(directory).rglob("*")):
        if not path.is_file():
            continue
        if path.suffix.lower() in PICKLE_SUFFIXES:
            raise PdsError(f"refusing to load a pickle checkpoint: {path} (pickle can run code; use safetensors)")
        with open(path, "rb") as fh:
            head = fh.read(16)
        if _looks_like_pickle(head) and not _looks_like_safetensors(head):
            raise PdsError(
                f"refusing to load a pickle checkpoint: {path} is a pickle/torch.save file "
                "(pickle can run code; use safetensors)"
            )


def _looks_like_pickle(head: bytes) -> bool:
    zip_magic = head[:2] == b"PK"  # torch.save's default zip container
    pickle_magic = len(head) >= 2 and head[0] == 0x80 and 1 <= head[1] <= 5  # PROTO opcode
    return zip_magic or pickle_magic


def _looks_like_safetensors(head: bytes) -> bool:
    # 8-byte little-endian header length, then a JSON header: its first byte can be 0x80 by chance.
    # The length is not checked against the file size, so a truncated file reaches the size check.
    # (This only chooses the error message: nothing here ever unpickles.)
    return len(head) >= 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < 1 << 30


def _read_state(directory: Path) -> dict[str, Any]:
    path = directory / STATE_FILE
    if not path.is_file():
        raise InputError(path, "checkpoint state file missing (incomplete or not a pds checkpoint)")
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InputError(path, "checkpoint corrupted or truncated (state.json is not valid JSON)") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise InputError(path, f"not a {FORMAT} state file")
    version, size = state.get("format_version", -1), state.get("tensors_bytes", -1)
    if not isinstance(version, int) or not isinstance(size, int) or not isinstance(state.get("tensors_sha256"), str):
        raise InputError(path, "checkpoint state damaged (format_version, tensors_bytes or tensors_sha256)")
    if version > FORMAT_VERSION:
        raise InputError(path, f"checkpoint format {version} is newer than this tool's")
    name = state.get("tensors_file", TENSORS_FILE)
    if not isinstance(name, str) or name in ("", ".", "..") or Path(name).name != name or "\\" in name:
        raise InputError(path, f"checkpoint state names a tensors file outside the checkpoint: {str(name)[:60]!r}")
    return state


def _readable(directory: Path) -> Path:
    """`directory`, or the previous version a save killed between its two renames left aside.

    Readers never move anything: a reader repairing the layout could race the writer mid-swap.
    """
    if directory.exists():
        return directory
    olds = sorted(directory.parent.glob(f".{directory.name}.old-*"), key=lambda p: p.stat().st_mtime)
    return olds[-1] if olds else directory


def checkpoint_exists(directory: str | os.PathLike[str]) -> bool:
    """True when `directory` can be loaded, including a copy a save killed mid-swap left aside."""
    return _readable(Path(directory)).exists()


def sweep(run_dir: str | os.PathLike[str]) -> None:
    """Writer-side clean-up of a run's checkpoint folder after a kill (see `_sweep`); rank 0 only."""
    root = Path(run_dir) / CHECKPOINTS
    if root.is_dir():
        for name in {p.name[1:].rsplit(".old-", 1)[0] for p in root.glob(".*.old-*")}:
            _recover(root / name)
        _sweep(root)


def _verify(directory: Path) -> tuple[dict[str, Any], Path, str]:
    directory = _readable(directory)
    if not directory.is_dir():
        raise InputError(directory, "checkpoint not found")
    refuse_pickles(directory)
    state = _read_state(directory)
    tensors_path = directory / str(state.get("tensors_file", TENSORS_FILE))
    if not tensors_path.is_file():
        raise InputError(tensors_path, "checkpoint tensors file missing")
    size, expected = tensors_path.stat().st_size, int(state.get("tensors_bytes", -1))
    if size < expected:
        raise InputError(tensors_path, f"checkpoint truncated ({size} of {expected} bytes)")
    sha = file_sha256(tensors_path)
    if sha != state.get("tensors_sha256") or size != expected:
        raise InputError(tensors_path, "checkpoint corrupted (hash mismatch)")
    return state, tensors_path, sha


def load_checkpoint(directory: str | os.PathLike[str], *, device: str | torch.device = "cpu") -> Checkpoint:
    """Verify (no pickle, size, SHA-256) and load a checkpoint directory."""
    from safetensors.torch import load_file

    directory = Path(directory)
    state, tensors_path, sha = _verify(directory)
    try:
        tensors = load_file(str(tensors_path), device=str(device))
    except Exception as exc:  # the hash matched, so this is a writer bug or a foreign file
        raise InputError(tensors_path, f"checkpoint corrupted ({exc.__class__.__name__}: {exc})") from None
    return Checkpoint(path=directory, tensors=tensors, state=state, sha256=sha)


def checkpoint_hash(directory: str | os.PathLike[str]) -> str:
    """SHA-256 of a checkpoint's tensors, verified against its record: the provenance id of a model."""
    return _verify(Path(directory))[2]


def list_checkpoints(run_dir: str | os.PathLike[str]) -> list[Path]:
    """Step checkpoints of a run, oldest first (what to fall back on when `last` is damaged)."""
    root = Path(run_dir) / CHECKPOINTS
    if not root.is_dir():
        return []
    steps = [p for p in root.glob("step-*") if p.is_dir() and p.name[5:].isdigit()]
    return sorted(steps, key=lambda p: int(p.name[5:]))


# ------------------------------------------------------------------------------------ packing helpers


def with_prefix(prefix: str, tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{k}": v for k, v in tensors.items()}


def strip_prefix(tensors: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    head = prefix + "."
    return {k[len(head) :]: v for k, v in tensors.items() if k.startswith(head)}


def pack_optimizer(state_dict: Mapping[str, Any], prefix: str = "optimizer") -> tuple[dict[str, torch.Tensor], dict]:
    """Split an optimiser state dict into tensors (moments, step counts) and JSON (param groups, scalars)."""
    tensors: dict[str, torch.Tensor] = {}
    meta_state: dict[str, dict[str, Any]] = {}
    names: dict[str, dict[str, str]] = {}
    for pid, per_param in state_dict["state"].items():
        meta_state[str(pid)] = {}
        names[str(pid)] = {}
        for key, value in per_param.items():
            if isinstance(value, torch.Tensor):
                name = f"{prefix}.state.{pid}.{key}"
                tensors[name] = value
                names[str(pid)][key] = name
            else:
                meta_state[str(pid)][key] = value
    meta = {"param_groups": _jsonable(state_dict["param_groups"]), "state": meta_state, "tensors": names}
    return tensors, meta


def unpack_optimizer(tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for pid, scalars in meta["state"].items():
        state[int(pid)] = dict(scalars)
        for key, name in meta["tensors"].get(pid, {}).items():
            state[int(pid)][key] = tensors[name]
    groups = [dict(g) for g in meta["param_groups"]]
    for g in groups:
        if isinstance(g.get("betas"), list):
            g["betas"] = tuple(g["betas"])
    return {"state": state, "param_groups": groups}


def capture_rng(
    prefix: str = "rng", device: torch.device | None = None
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """This process's RNG states: torch CPU (and `device`'s CUDA) as uint8 tensors, Python and NumPy as JSON.

    Only this process's own GPU is captured: touching every GPU from every rank would create a CUDA
    context on each of them.
    """
    tensors = {f"{prefix}.torch_cpu": torch.get_rng_state()}
    if device is not None and device.type == "cuda":
        tensors[f"{prefix}.torch_cuda"] = torch.cuda.get_rng_state(device)
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    meta = {
        "python": [version, list(internal), gauss],
        "numpy": [name, np.asarray(keys).tolist(), int(pos), int(has_gauss), float(cached)],
    }
    return tensors, meta


def restore_rng(
    tensors: Mapping[str, torch.Tensor],
    meta: Mapping[str, Any],
    prefix: str = "rng",
    device: torch.device | None = None,
) -> None:
    torch.set_rng_state(tensors[f"{prefix}.torch_cpu"].to("cpu", torch.uint8))
    cuda = tensors.get(f"{prefix}.torch_cuda")
    if cuda is not None and device is not None and device.type == "cuda":
        torch.cuda.set_rng_state(cuda.to("cpu", torch.uint8), device)
    version, internal, gauss = meta["python"]
    random.setstate((int(version), tuple(int(x) for x in internal), gauss))
    name, keys, pos, has_gauss, cached = meta["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), int(pos), int(has_gauss), float(cached)))
