"""A generic, resumable training loop: any nn.Module plus `loss_fn(model, batch, rng) -> dict`.

What it guarantees, and how:
- Resume is exact. The batch of step s is a pure function of (seed, s, rank) (`StepBatchSampler`), the
  per-sample random streams handed to `loss_fn` are keyed on (seed, s, the sample's position in the global
  batch) (`SampleRng`), and model, optimiser, EMA,
  LR scheduler, counters and every RNG (torch CPU/CUDA, Python, NumPy, per rank) are checkpointed, so
  k steps + kill + resume k equals 2k uninterrupted steps bit for bit on CPU.
- torchrun: DDP with sharding by rank; rank 0 writes checkpoints and logs; all ranks agree (one
  collective) on skipping a step whose loss or gradient is not finite. W processes at batch B train like one
  process at batch W·B (to fp rounding): the same samples at the same global positions, the same per-sample
  draws, and losses that are batch means of per-sample means (so the all-reduce mean is the global mean).
- SIGTERM / SIGUSR1 (a SLURM time limit): all ranks agree at the next step boundary, save `last` at
  that step and raise StoppedBySignal (`pds_mri.training.signals`); `--resume` continues exactly.
- AdamW, linear warm-up + cosine LR, gradient clipping, EMA weights for validation/sampling, bf16
  autocast on CUDA, CSV + TensorBoard logs, a rich progress bar on a TTY, `best` by validation metric.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import math
import os
import random
import shutil
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence, Sized
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from pydantic import BaseModel
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler, default_collate

from pds_mri import __version__
from pds_mri.errors import PdsError, StoppedBySignal
from pds_mri.io.atomic import write_text
from pds_mri.training import checkpoint as ckpt
from pds_mri.training.config import TrainerConfig
from pds_mri.training.distributed import (
    DistInfo,
    all_reduce_mean,
    all_true,
    barrier,
    broadcast_object,
    gather_objects,
    init_distributed,
    wrap_ddp,
)
from pds_mri.training.ema import EMA, unwrap
from pds_mri.training.lr import warmup_cosine
from pds_mri.training.sample_rng import SampleRng
from pds_mri.training.signals import requested, signal_name, stop_on_signals

log = logging.getLogger(__name__)

LossFn = Callable[[nn.Module, Any, SampleRng], Mapping[str, torch.Tensor]]
ValidateFn = Callable[[nn.Module, int], "Mapping[str, float] | float"]
LOG_DIR = "logs"
TRAIN_CSV = "train.csv"
VAL_CSV = "val.csv"

# Fields that may change on --resume without changing the result (reporting and housekeeping only).
_RESUMABLE_CHANGES = frozenset(
    {
        "checkpoint_every",
        "keep_checkpoints",
        "validate_every",
        "log_every",
        "tensorboard",
        "progress",
        "num_workers",
        "max_bad_steps",
    }
)


@dataclass(frozen=True)
class TrainResult:
    step: int
    best_metric: float | None
    best_step: int | None
    skipped_steps: int
    last_checkpoint: Path | None


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and every CUDA device)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def step_seed(seed: int, step: int, rank: int) -> int:
    """A well-mixed 63-bit seed for (seed, step, rank): neighbouring steps get unrelated streams."""
    return int(np.random.SeedSequence([seed, step, rank]).generate_state(1, np.uint64)[0] >> np.uint64(1))


class StepBatchSampler(Sampler[list[int]]):
    """Indices of each step's per-rank batch, as a pure function of (seed, step, rank).

    The global stream visits the dataset in a fresh permutation every epoch (like DistributedSampler
    with set_epoch); step s takes positions [s·G + r·B, s·G + (r+1)·B) of it, G = B × world. No state
    to save: a resumed run at step s draws exactly the batches an uninterrupted run would.
    """

    def __init__(self, n: int, batch_size: int, seed: int, rank: int, world: int, start: int, stop: int) -> None:
        if n < 1:
            raise PdsError("the training dataset is empty")
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.rank, self.world, self.start, self.stop = rank, world, start, stop
        self._perms: dict[int, np.ndarray] = {}

    def _perm(self, epoch: int) -> np.ndarray:
        if epoch not in self._perms:
            if len(self._perms) > 4:
                self._perms.clear()
            self._perms[epoch] = np.random.default_rng([self.seed, epoch]).permutation(self.n)
        return self._perms[epoch]

    def indices(self, step: int) -> list[int]:
        base = step * self.batch_size * self.world + self.rank * self.batch_size
        out = []
        for p in range(base, base + self.batch_size):
            epoch, offset = divmod(p, self.n)
            out.append(int(self._perm(epoch)[offset]))
        return out

    def __iter__(self) -> Iterator[list[int]]:
        for step in range(self.start, self.stop):
            yield self.indices(step)

    def __len__(self) -> int:
        return max(0, self.stop - self.start)


def _to_device(obj: Any, device: torch.device) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.to(device, non_blocking=device.type == "cuda")
    if isinstance(obj, Mapping):
        return {k: _to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_device(v, device) for v in obj)
    return obj


class Trainer:
    """Train `model` by minimising `loss_fn(model, batch, rng)["loss"]` over `dataset`.

    `loss_fn` gets the (possibly DDP-wrapped) model, a collated batch already on the device, and a
    `SampleRng` on the device, one stream per sample of the batch, that it must use for all its randomness
    (noise, timesteps, condition dropout; draws stacked along dimension 0) so that runs are reproducible and
    a sample's draws do not depend on how the global batch is sharded. Other keys of its result are logged.
    `validate_fn(model, step)` gets the unwrapped model holding the EMA weights, in eval mode under
    no_grad, on every rank (a collective point: it may shard its work by rank and reduce the results, as
    `pds train`'s validation does); it returns {metric: value} (or one float for `cfg.best_metric`); rank 0's
    values are used, so the logs and the `best` choice agree on every rank.
    """

    def __init__(
        self,
        model: nn.Module,
        loss_fn: LossFn,
        dataset: Dataset,
        run_dir: str | os.PathLike[str],
        cfg: TrainerConfig,
        validate_fn: ValidateFn | None = None,
        dist: DistInfo | None = None,
        *,
        collate_fn: Callable[[list[Any]], Any] | None = None,
        run_config: Mapping[str, Any] | BaseModel | None = None,
    ) -> None:
        self.cfg = cfg
        self.dist = dist or init_distributed()
        self.run_dir = Path(run_dir)
        self.loss_fn = loss_fn
        self.validate_fn = validate_fn
        self.dataset = dataset
        self.collate_fn = collate_fn or default_collate
        self.run_config = run_config.model_dump(mode="json") if isinstance(run_config, BaseModel) else run_config

        _set_grad_checkpointing(model, cfg.grad_checkpointing)
        self.model = wrap_ddp(model, self.dist)
        # After wrapping: DDP has broadcast rank 0's weights, so every rank's EMA starts from them.
        self.ema = EMA(self.model, cfg.ema_decay, warmup=cfg.ema_warmup)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        if not self.params:
            raise PdsError("the model has no trainable parameters")
        self.optimizer = torch.optim.AdamW(self.params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
        self.scheduler = warmup_cosine(self.optimizer, cfg.warmup_steps, cfg.steps, cfg.min_lr_ratio)
        self.rng = SampleRng(self.dist.device)

        self.step = 0
        self.best_metric: float | None = None
        self.best_step: int | None = None
        self.skipped_steps = 0
        self.consecutive_bad = 0
        self.elapsed = 0.0
        self._rows: list[dict[str, Any]] = []
        self._val_rows: list[dict[str, Any]] = []
        self._tb: Any = None
        self._flushed_at = 0.0

    # ------------------------------------------------------------------------------------------ run

    def train(self, resume: bool = False, stop_at: int | None = None, resume_from: str = "last") -> TrainResult:
        """Train to `cfg.steps` (or stop early at `stop_at`, writing `last`), from scratch or resumed.

        `resume_from` names the checkpoint to continue from (e.g. 'step-000400' when `last` is damaged).
        """
        last = ckpt.checkpoint_dir(self.run_dir, "last")
        if resume:
            self.load(resume_from)
            if self.dist.is_main:  # the single writer: put back or remove what a killed save left
                ckpt.sweep(self.run_dir)
        else:
            if last.exists():
                raise PdsError(
                    f"{self.run_dir} already holds a training run ({last}); pass --resume or use a new RUN_DIR"
                )
            seed_everything(self.cfg.seed + self.dist.rank)
        stop = self.cfg.steps if stop_at is None else min(stop_at, self.cfg.steps)
        if self.step >= stop:
            log.info("nothing to train: already at step %d of %d", self.step, stop)
            return TrainResult(self.step, self.best_metric, self.best_step, self.skipped_steps, last)
        if self.dist.is_main:
            self._open_logs(resumed=resume)
        n_items = len(cast(Sized, self.dataset))  # map-style datasets define __len__
        sampler = StepBatchSampler(
            n_items, self.cfg.batch_size, self.cfg.seed, self.dist.rank, self.dist.world_size, self.step, stop
        )
        # A private generator: creating a DataLoader iterator draws a worker seed, which would otherwise
        # come from the global RNG and shift it by one draw on every resume.
        worker_rng = torch.Generator().manual_seed(step_seed(self.cfg.seed, self.step, self.dist.rank))
        loader = DataLoader(
            self.dataset,
            batch_sampler=sampler,
            collate_fn=self.collate_fn,
            num_workers=self.cfg.num_workers,
            generator=worker_rng,
        )
        saved_at, started_at = -1, self.step
        try:
            with stop_on_signals(), self._progress(stop) as advance:
                window: dict[str, float] = {}
                window_n, window_t0 = 0, time.perf_counter()
                for batch in loader:
                    if self._stop_requested():
                        if self.step != started_at and saved_at != self.step:
                            self.save(step_dir=True)
                        raise StoppedBySignal(self._stopped_message())
                    t0 = time.perf_counter()
                    terms = self._train_step(batch)
                    self.elapsed += time.perf_counter() - t0
                    if terms is not None:
                        for k, v in terms.items():
                            window[k] = window.get(k, 0.0) + v
                        window_n += 1
                    advance(terms["loss"] if terms else float("nan"))
                    if self.step % self.cfg.log_every == 0 or self.step == stop:
                        self._log(window, window_n, (time.perf_counter() - window_t0) / max(1, self.cfg.log_every))
                        window, window_n, window_t0 = {}, 0, time.perf_counter()
                    if self.cfg.validate_every and self.step % self.cfg.validate_every == 0:
                        self.validate()
                    if self.cfg.checkpoint_every and self.step % self.cfg.checkpoint_every == 0:
                        self.save(step_dir=True)
                        saved_at = self.step
            if (
                self.step == self.cfg.steps
                and self.validate_fn
                and (not self.cfg.validate_every or self.step % self.cfg.validate_every)
            ):
                self.validate()
            if saved_at != self.step:
                self.save(step_dir=self.step == self.cfg.steps)
        finally:
            if self.dist.is_main:
                self._flush_logs()
                if self._tb is not None:
                    self._tb.close()
                    self._tb = None
        barrier(self.dist)
        return TrainResult(self.step, self.best_metric, self.best_step, self.skipped_steps, last)

    def _stop_requested(self) -> bool:
        """Whether any rank got a stop signal (one collective under DDP, so all ranks stop at the same step)."""
        mine = requested() is not None
        return not all_true(not mine, self.dist) if self.dist.distributed else mine

    def _stopped_message(self) -> str:
        signum = requested()
        name = signal_name(signum) if signum is not None else "a signal on another rank"
        where = ckpt.checkpoint_dir(self.run_dir, "last")
        saved = f"checkpoint {where} holds step {self.step}" if self.step else "nothing trained yet"
        return f"training stopped by {name} at step {self.step} of {self.cfg.steps}: {saved}; continue with --resume"

    def _train_step(self, batch: Any) -> dict[str, float] | None:
        """One optimiser step; None when the step was skipped for a non-finite loss or gradient."""
        cfg, device = self.cfg, self.dist.device
        # every batch is full (StepBatchSampler wraps into the next epoch), so rank r holds global positions
        # r·B .. r·B + B − 1 and the all-reduce mean of the ranks' losses is the global batch mean
        self.rng.reseed(cfg.seed, self.step, self.dist.rank * cfg.batch_size, cfg.batch_size)
        batch = _to_device(batch, device)
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.bf16 and device.type == "cuda")
        with autocast:
            out = self.loss_fn(self.model, batch, self.rng)
        if not isinstance(out, Mapping) or "loss" not in out:
            raise PdsError("loss_fn must return a dict with a 'loss' tensor")
        loss = out["loss"]
        if not isinstance(loss, torch.Tensor) or loss.ndim != 0:
            raise PdsError("loss_fn's 'loss' must be a scalar tensor (reduce it with .mean())")
        # backward even for a non-finite loss (its gradients are then non-finite too and are dropped): every
        # rank takes the same path, and the step needs ONE device-to-host read (loss, gradient norm and every
        # logged term together) instead of one per value, each of which would stall a GPU
        loss.backward()
        max_norm = cfg.grad_clip if cfg.grad_clip > 0 else float("inf")
        norm = torch.nn.utils.clip_grad_norm_(self.params, max_norm)
        reads = [loss.detach().float(), norm.detach().float().to(loss.device)]
        reads += [v.detach().float().mean() for v in out.values()]
        host = torch.stack(reads).tolist()
        grad_norm = host[1]
        ok = all_true(math.isfinite(host[0]) and math.isfinite(grad_norm), self.dist)
        if ok:
            self.optimizer.step()
            self.ema.update(self.model)
            self.consecutive_bad = 0
        else:
            self.optimizer.zero_grad(set_to_none=True)
            self.skipped_steps += 1
            self.consecutive_bad += 1
            log.warning(
                "step %d skipped: non-finite loss or gradient (%d in a row)", self.step + 1, self.consecutive_bad
            )
        with warnings.catch_warnings():  # harmless when the very first step was skipped
            warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step\\(\\)` before")
            self.scheduler.step()
        self.step += 1
        if self.consecutive_bad >= cfg.max_bad_steps:
            raise PdsError(
                f"training stopped at step {self.step}: {self.consecutive_bad} consecutive steps had a non-finite "
                "loss or gradient; lower the learning rate, check the data, or resume from an earlier checkpoint"
            )
        if not ok:
            return None
        terms = dict(zip(out.keys(), host[2:], strict=True))
        terms["grad_norm"] = grad_norm
        return terms

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Run validate_fn on the EMA weights; save `best` when the selected metric improves."""
        if self.validate_fn is None:
            return {}
        inner = unwrap(self.model)
        was_training = inner.training
        # Validation must not move the training RNG streams: then a run's result does not depend on
        # how often it validated, and a resume matches whatever validation schedule it uses.
        with _preserved_rng(self.dist.device), self.ema.swap(inner) as m:
            m.eval()
            result = self.validate_fn(m, self.step)
        inner.train(was_training)
        metrics = (
            {self.cfg.best_metric: float(result)}
            if isinstance(result, (int, float))
            else {k: float(v) for k, v in result.items()}
        )
        metrics = broadcast_object(metrics, self.dist)
        if self.cfg.best_metric not in metrics:
            raise PdsError(f"validate_fn returned {sorted(metrics)}, without the best metric '{self.cfg.best_metric}'")
        value = metrics[self.cfg.best_metric]
        better = math.isfinite(value) and (
            self.best_metric is None
            or (value > self.best_metric if self.cfg.best_mode == "max" else value < self.best_metric)
        )
        if better:
            self.best_metric, self.best_step = value, self.step
        if self.dist.is_main:
            self._val_rows.append({"step": self.step, **metrics})
            if self._tb is not None:
                for k, v in metrics.items():
                    self._tb.add_scalar(f"val/{k}", v, self.step)
            log.info("validation at step %d: %s", self.step, ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()))
        if better:
            self.save(name="best")
        return metrics

    # ----------------------------------------------------------------------------------- checkpoints

    def _trainer_state(self) -> dict[str, Any]:
        n = len(cast(Sized, self.dataset))  # map-style datasets define __len__
        return {
            "step": self.step,
            "epoch": self.step * self.cfg.batch_size * self.dist.world_size // max(1, n),
            "best_metric": self.best_metric,
            "best_step": self.best_step,
            "skipped_steps": self.skipped_steps,
            "consecutive_bad": self.consecutive_bad,
            "elapsed_seconds": self.elapsed,
            "world_size": self.dist.world_size,
            "tool_version": __version__,
        }

    def save(self, name: str = "last", *, step_dir: bool = False) -> None:
        """Checkpoint (a collective: every rank calls it; rank 0 writes). `step_dir` also writes step-N."""
        rng_t, rng_meta = ckpt.capture_rng(device=self.dist.device)
        mine = {"tensors": {k: v.cpu().numpy().tobytes() for k, v in rng_t.items()}, "meta": rng_meta}
        every_rank = gather_objects(mine, self.dist)
        if not self.dist.is_main:
            return
        tensors: dict[str, torch.Tensor] = {}
        tensors.update(ckpt.with_prefix("model", unwrap(self.model).state_dict()))
        tensors.update(ckpt.with_prefix("ema", self.ema.state_dict()))
        opt_tensors, opt_meta = ckpt.pack_optimizer(self.optimizer.state_dict())
        tensors.update(opt_tensors)
        rng_json = {}
        for rank, entry in enumerate(every_rank):
            for key, raw in entry["tensors"].items():
                tensors[f"rng.rank{rank}.{key.removeprefix('rng.')}"] = torch.frombuffer(
                    bytearray(raw), dtype=torch.uint8
                )
            rng_json[f"rank{rank}"] = entry["meta"]
        state = {
            "config": self.run_config,
            "trainer_config": self.cfg.model_dump(mode="json"),
            "trainer": self._trainer_state(),
            "scheduler": self.scheduler.state_dict(),
            "optimizer": opt_meta,
            "rng": rng_json,
        }
        target = ckpt.checkpoint_dir(self.run_dir, name)
        aliases = [ckpt.checkpoint_dir(self.run_dir, ckpt.step_name(self.step))] if step_dir else []
        ckpt.save_checkpoint(target, tensors, state, aliases=aliases)
        self._flush_logs()
        if step_dir and self.cfg.keep_checkpoints:
            for old in ckpt.list_checkpoints(self.run_dir)[: -self.cfg.keep_checkpoints]:
                shutil.rmtree(old, ignore_errors=True)

    def load(self, name: str = "last") -> None:
        """Restore everything from RUN_DIR/checkpoints/{name} (every rank reads it)."""
        directory = ckpt.checkpoint_dir(self.run_dir, name)
        if not directory.exists() and not any(directory.parent.glob(f".{name}.old-*")):
            raise PdsError(f"nothing to resume: {directory} does not exist")
        try:
            c = ckpt.load_checkpoint(directory)
        except PdsError as exc:
            others = [p.name for p in ckpt.list_checkpoints(self.run_dir)]
            hint = f"; earlier checkpoints to resume from: {', '.join(others)}" if others else ""
            raise PdsError(f"{exc}{hint}") from None
        try:
            self._restore(c, directory)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError, RuntimeError) as exc:
            # The tensors' hash matched, so state.json itself was damaged or edited.
            raise PdsError(
                f"{directory}: checkpoint state damaged ({exc.__class__.__name__}: {' '.join(str(exc).split())[:120]})"
            ) from None
        if self.dist.is_main:
            log.info("resumed from %s at step %d", directory, self.step)

    def _restore(self, c: ckpt.Checkpoint, directory: Path) -> None:
        saved_cfg = c.state.get("trainer_config", {})
        now = self.cfg.model_dump(mode="json")
        changed = sorted(
            k for k in set(saved_cfg) | set(now) if k not in _RESUMABLE_CHANGES and saved_cfg.get(k) != now.get(k)
        )
        if changed:
            raise PdsError(
                f"cannot resume {directory}: trainer config changed in {changed}; use the saved values or a new RUN_DIR"
            )
        try:
            unwrap(self.model).load_state_dict(c.group("model"), strict=True)
            self.ema.load_state_dict(c.group("ema"))
            self.optimizer.load_state_dict(ckpt.unpack_optimizer(c.tensors, c.state["optimizer"]))
        except (RuntimeError, KeyError, ValueError) as exc:
            raise PdsError(
                f"{directory}: checkpoint does not fit this model ({exc.__class__.__name__}: {exc})"
            ) from None
        self.scheduler.load_state_dict(c.state["scheduler"])
        t = c.state["trainer"]
        self.step = int(t["step"])
        self.best_metric = None if t.get("best_metric") is None else float(t["best_metric"])
        self.best_step = t.get("best_step")
        self.skipped_steps = int(t.get("skipped_steps", 0))
        self.consecutive_bad = int(t.get("consecutive_bad", 0))
        self.elapsed = float(t.get("elapsed_seconds", 0.0))
        prefix = f"rng.rank{self.dist.rank}"
        if int(t.get("world_size", 1)) == self.dist.world_size and f"{prefix}.torch_cpu" in c.tensors:
            ckpt.restore_rng(c.tensors, c.state["rng"][f"rank{self.dist.rank}"], prefix=prefix, device=self.dist.device)
        else:
            log.warning(
                "resuming with %d processes instead of %s: RNG streams reseeded",
                self.dist.world_size,
                t.get("world_size"),
            )
            seed_everything(step_seed(self.cfg.seed, self.step, self.dist.rank))

    # ----------------------------------------------------------------------------------------- logs

    def _open_logs(self, resumed: bool) -> None:
        logs = self.run_dir / LOG_DIR
        logs.mkdir(parents=True, exist_ok=True)
        # After a resume, drop rows a killed run logged past its last checkpoint: they will be redone.
        self._rows = _read_csv(logs / TRAIN_CSV, self.step) if resumed else []
        self._val_rows = _read_csv(logs / VAL_CSV, self.step) if resumed else []
        if self.cfg.tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(logs / "tensorboard"), purge_step=self.step + 1 if resumed else None)

    def _log(self, window: dict[str, float], n: int, sec_per_step: float) -> None:
        means = all_reduce_mean({k: v / n for k, v in window.items()} if n else {}, self.dist)
        if not self.dist.is_main:
            return
        row = {
            "step": self.step,
            "epoch": self._trainer_state()["epoch"],
            "lr": self.scheduler.get_last_lr()[0],
            "seconds": round(self.elapsed, 3),
            "sec_per_step": round(sec_per_step, 4),
            "skipped": self.skipped_steps,
            **means,
        }
        self._rows.append(row)
        if self._tb is not None:
            for k, v in means.items():
                self._tb.add_scalar(f"train/{k}", v, self.step)
            self._tb.add_scalar("train/lr", row["lr"], self.step)
        if not self._bar_enabled():
            loss = means.get("loss", float("nan"))
            eta = sec_per_step * (self.cfg.steps - self.step)
            log.info("step %d/%d loss %.4g lr %.3g eta %s", self.step, self.cfg.steps, loss, row["lr"], _hms(eta))
        if time.monotonic() - self._flushed_at > 10.0:
            self._flush_logs()

    def _flush_logs(self) -> None:
        if not self.dist.is_main:
            return
        logs = self.run_dir / LOG_DIR
        if self._rows:
            write_text(logs / TRAIN_CSV, _csv_text(self._rows))
        if self._val_rows:
            write_text(logs / VAL_CSV, _csv_text(self._val_rows))
        if self._tb is not None:
            self._tb.flush()
        self._flushed_at = time.monotonic()

    def _bar_enabled(self) -> bool:
        return self.cfg.progress and self.dist.is_main and sys.stderr.isatty()

    def _progress(self, stop: int) -> Any:
        """Context yielding advance(loss): a rich bar with loss and ETA on a TTY, else a no-op."""

        @contextlib.contextmanager
        def bar() -> Iterator[Callable[[float], None]]:
            if not self._bar_enabled():
                yield lambda loss: None
                return
            from rich.progress import TextColumn

            from pds_mri.progress import progress_bar

            with progress_bar(TextColumn("loss {task.fields[loss]:.4g}")) as progress:
                task = progress.add_task("training", total=stop, completed=self.step, loss=float("nan"))
                yield lambda loss: progress.update(task, advance=1, loss=loss)

        return bar()


@contextlib.contextmanager
def _preserved_rng(device: torch.device) -> Iterator[None]:
    py, npy = random.getstate(), np.random.get_state()
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        try:
            yield
        finally:
            random.setstate(py)
            np.random.set_state(npy)


def _set_grad_checkpointing(model: nn.Module, flag: bool) -> None:
    switch: Any = model  # optional, model-specific attributes, probed with hasattr
    if hasattr(model, "set_grad_checkpointing"):
        switch.set_grad_checkpointing(flag)
    elif hasattr(model, "grad_checkpointing"):
        switch.grad_checkpointing = flag
    elif flag:
        log.warning("%s has no gradient checkpointing switch; grad_checkpointing ignored", type(model).__name__)


def _csv_text(rows: Sequence[Mapping[str, Any]]) -> str:
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def _read_csv(path: Path, up_to_step: int) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as fh:
        return [r for r in csv.DictReader(fh) if r.get("step", "").isdigit() and int(r["step"]) <= up_to_step]


def _hms(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
