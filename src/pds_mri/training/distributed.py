"""torchrun helpers: the same command runs on one process, one GPU, several GPUs or several nodes.

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK; without them everything here is a no-op single process,
so code paths never branch on "am I distributed" beyond `DistInfo`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn

from pds_mri.errors import PdsError

T = TypeVar("T")


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    is_main: bool = True

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise PdsError(f"environment variable {name}={value!r} is not an integer") from None


def init_distributed(device: str | torch.device | None = None, backend: str | None = None) -> DistInfo:
    """Join the torchrun process group (gloo on CPU, NCCL on CUDA) or describe the single process.

    `device` (`--device`): None or "auto" = CUDA when available, else CPU; "cpu" also tests DDP with gloo on a
    GPU machine; "mps" = Apple GPU, one process only (torch.distributed has no MPS backend).
    """
    rank = _env_int("RANK", 0)
    world = _env_int("WORLD_SIZE", 1)
    local_rank = _env_int("LOCAL_RANK", 0)
    if world < 1 or not 0 <= rank < world:
        raise PdsError(f"invalid torchrun environment: RANK={rank}, WORLD_SIZE={world}")
    wanted = "auto" if device is None else str(device)
    kind = ("cuda" if torch.cuda.is_available() else "cpu") if wanted == "auto" else torch_device(wanted).type
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise PdsError("--device cuda: CUDA is not available (a CPU-only PyTorch, or no visible GPU)")
        if local_rank >= torch.cuda.device_count():
            raise PdsError(f"LOCAL_RANK={local_rank} but only {torch.cuda.device_count()} GPU(s) are visible")
        torch.cuda.set_device(local_rank)
        dev = torch.device("cuda", local_rank)
    elif kind == "mps":
        if not torch.backends.mps.is_available():
            raise PdsError("--device mps: Apple MPS is not available on this machine")
        if world > 1:
            raise PdsError("--device mps runs in one process; torchrun needs --device cuda or cpu")
        dev = torch.device("mps")
    else:
        dev = torch.device("cpu")
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend=backend or ("nccl" if dev.type == "cuda" else "gloo"), init_method="env://")
    return DistInfo(rank=rank, world_size=world, local_rank=local_rank, device=dev, is_main=rank == 0)


def torch_device(name: str) -> torch.device:
    """A `--device` value as a torch.device, with a one-line error for anything else."""
    try:
        dev = torch.device(name)
    except RuntimeError:
        dev = None
    if dev is None or dev.type not in ("cpu", "cuda", "mps"):
        raise PdsError(f"--device {name}: choose auto, cpu, cuda or mps")
    return dev


def shard(items: Sequence[T], rank: int, world: int) -> list[T]:
    """Items rank, rank+world, ... : deterministic, disjoint, covers everything, sizes differ by <= 1."""
    if world < 1 or not 0 <= rank < world:
        raise PdsError(f"invalid shard rank {rank} of {world}")
    return list(items)[rank::world]


def barrier(info: DistInfo) -> None:
    if info.distributed and dist.is_initialized():
        if info.device.type == "cuda":
            dist.barrier(device_ids=[info.device.index])
        else:
            dist.barrier()


def cleanup(info: DistInfo | None = None) -> None:
    """Leave the process group (safe to call twice or when never joined).

    The barrier first: a rank that tears gloo down while another still has a collective in flight makes
    that rank abort ("terminate called without an active exception"), seen once in ~8 runs of the 2-process test.
    """
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def wrap_ddp(model: nn.Module, info: DistInfo, **kwargs: Any) -> nn.Module:
    """DistributedDataParallel when world_size > 1 (it broadcasts rank 0's weights), else the model itself."""
    model = model.to(info.device)
    if not info.distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel as DDP

    if info.device.type == "cuda":
        return DDP(model, device_ids=[info.device.index], output_device=info.device.index, **kwargs)
    return DDP(model, **kwargs)


def all_reduce_mean(values: dict[str, float], info: DistInfo) -> dict[str, float]:
    """Mean of scalar logs over ranks (one collective), so rank 0 logs the whole batch."""
    if not info.distributed or not values:
        return dict(values)
    keys = sorted(values)
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=info.device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return {k: float(v) / info.world_size for k, v in zip(keys, t.tolist(), strict=True)}


def all_true(flag: bool, info: DistInfo) -> bool:
    """True on every rank only if it is True on every rank (so all ranks take the same branch)."""
    if not info.distributed:
        return flag
    t = torch.tensor([1 if flag else 0], dtype=torch.int32, device=info.device)
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return bool(t.item())


def gather_objects(obj: Any, info: DistInfo) -> list[Any]:
    """Every rank's `obj` (JSON-like), in rank order, on every rank."""
    if not info.distributed:
        return [obj]
    out: list[Any] = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def gather_by_index(mine: Mapping[int, T], n: int, info: DistInfo) -> list[T]:
    """Results of items 0..n-1, in index order on every rank, from each rank's {index: result} of its shard.

    One all_gather_object. Why by index: a mean over the returned list is then computed in the same order,
    so it equals the single-process value bit for bit, however the items were sharded.
    """
    merged: dict[int, T] = {}
    for part in gather_objects(dict(mine), info):
        for index, value in part.items():
            if index in merged:
                raise PdsError(f"item {index} was computed on more than one rank")
            merged[int(index)] = value
    missing = sorted(set(range(n)) - merged.keys())
    if missing or len(merged) != n:
        raise PdsError(f"sharded results cover {len(merged)} of {n} items (missing {missing[:5]})")
    return [merged[i] for i in range(n)]


def broadcast_object(obj: Any, info: DistInfo, src: int = 0) -> Any:
    if not info.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def lock_out_dir(locks: contextlib.ExitStack, out_dir: Path, info: DistInfo, command: str) -> None:
    """Rank 0 holds OUT_DIR's lock for the whole job (a second `pds COMMAND` there is refused); the
    other ranks learn whether it got it, so they all stop together if it did not."""
    from pds_mri.io.atomic import output_lock

    refusal = None
    if info.is_main:
        try:
            locks.enter_context(output_lock(out_dir, command))
        except PdsError as exc:
            refusal = str(exc)
    refusal = broadcast_object(refusal, info)
    if refusal:
        raise PdsError(refusal)
