"""Exponential moving average of a model's weights, used for sampling.

Why: diffusion samples from EMA weights are markedly better than from the raw weights, which jitter
with every step. The shadow copy is plain tensors (state_dict → safetensors round-trip, no pickle).
Written here rather than with `torch.optim.swa_utils.AveragedModel` because that deep-copies the whole
module (a second model in memory with its own buffers and hooks) where a dict of tensors is enough.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping

import torch
from torch import nn

from pds_mri.errors import PdsError


def unwrap(model: nn.Module) -> nn.Module:
    """The user's module inside DDP / torch.compile wrappers, so names match across wrappings."""
    while True:
        if hasattr(model, "module") and isinstance(model.module, nn.Module):
            model = model.module
        elif hasattr(model, "_orig_mod") and isinstance(model._orig_mod, nn.Module):
            model = model._orig_mod
        else:
            return model


class EMA:
    """shadow ← d·shadow + (1−d)·param after each optimiser step, with d = min(decay, (1+n)/(10+n)).

    The warm-up term (n = number of updates) keeps early averages from being dominated by the random
    initialisation; with warmup=False d is constant. Floating-point buffers are averaged too; integer
    buffers (e.g. BatchNorm's counters) are copied.
    """

    def __init__(self, model: nn.Module, decay: float = 0.999, *, warmup: bool = True) -> None:
        if not 0.0 <= decay <= 1.0:
            raise PdsError(f"EMA decay must be in [0, 1], got {decay}")
        self.decay = decay
        self.warmup = warmup
        self.num_updates = 0
        self.shadow: dict[str, torch.Tensor] = {k: v.detach().clone() for k, v in unwrap(model).state_dict().items()}

    def current_decay(self) -> float:
        if not self.warmup:
            return self.decay
        n = self.num_updates
        return min(self.decay, (1.0 + n) / (10.0 + n))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        d = self.current_decay()
        for name, value in unwrap(model).state_dict().items():
            shadow = self.shadow[name]
            if shadow.is_floating_point():
                shadow.lerp_(value.detach().to(shadow.dtype), 1.0 - d)
            else:
                shadow.copy_(value)
        self.num_updates += 1

    @torch.no_grad()
    def copy_to(self, model: nn.Module) -> None:
        """Overwrite the model's weights with the average (e.g. to export the sampling model)."""
        unwrap(model).load_state_dict(self.shadow, strict=True)

    @contextlib.contextmanager
    def swap(self, model: nn.Module) -> Iterator[nn.Module]:
        """Use the EMA weights inside the block (validation, sampling); the training weights come back after."""
        inner = unwrap(model)
        backup = {k: v.detach().clone() for k, v in inner.state_dict().items()}
        try:
            self.copy_to(inner)
            yield inner
        finally:
            with torch.no_grad():
                inner.load_state_dict(backup, strict=True)

    def to(self, device: torch.device | str) -> EMA:
        self.shadow = {k: v.to(device) for k, v in self.shadow.items()}
        return self

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Tensors only (the update count as a 0-d int64), so it saves to safetensors as is."""
        out = {f"shadow.{k}": v for k, v in self.shadow.items()}
        out["num_updates"] = torch.tensor(self.num_updates, dtype=torch.int64)
        return out

    def load_state_dict(self, state: Mapping[str, torch.Tensor]) -> None:
        shadow = {k[len("shadow.") :]: v for k, v in state.items() if k.startswith("shadow.")}
        missing = sorted(set(self.shadow) - set(shadow))
        unexpected = sorted(set(shadow) - set(self.shadow))
        if missing or unexpected:
            raise PdsError(f"EMA state does not match the model: missing {missing[:5]}, unexpected {unexpected[:5]}")
        with torch.no_grad():
            for k, v in shadow.items():
                if v.shape != self.shadow[k].shape:
                    raise PdsError(
                        f"EMA state '{k}' has shape {tuple(v.shape)}, model has {tuple(self.shadow[k].shape)}"
                    )
                if v.is_floating_point() != self.shadow[k].is_floating_point():  # copy_ would cast silently
                    raise PdsError(f"EMA state '{k}' is {v.dtype}, model has {self.shadow[k].dtype}")
                self.shadow[k].copy_(v)
        self.num_updates = int(state["num_updates"])
