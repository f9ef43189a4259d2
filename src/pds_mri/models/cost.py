"""Cost measurement helpers for the speed benchmark (not used in training or synthesis).

* :func:`time_forward` — wall time of ``module(*inputs)`` under ``torch.no_grad`` (median of repeats).
* :func:`count_flops` — FLOPs of one forward pass by ``torch.utils.flop_counter`` (deterministic, so it
  can be asserted in tests, unlike timings).
* :func:`pds_component_costs` — both, for one denoiser evaluation and each refiner of a PDS on a batch,
  which gives the cost of a synthesis as ``steps × denoiser + tissue + micro`` and the micro refiner's
  fraction of a denoiser pass.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

from pds_mri.models.pds import PDS, Batch


def _sync(inputs: Sequence[Tensor]) -> None:
    for x in inputs:
        if isinstance(x, Tensor) and x.is_cuda:
            torch.cuda.synchronize(x.device)
            return


@torch.no_grad()
def time_forward(module: nn.Module, inputs: Sequence[Tensor], repeats: int = 3, warmup: int = 1) -> dict[str, float]:
    """Seconds per forward pass: ``median``, ``min``, ``mean`` over ``repeats`` after ``warmup`` runs."""
    for _ in range(warmup):
        module(*inputs)
    _sync(inputs)
    times = []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        module(*inputs)
        _sync(inputs)
        times.append(time.perf_counter() - start)
    return {"median": statistics.median(times), "min": min(times), "mean": statistics.fmean(times)}


@torch.no_grad()
def count_flops(module: nn.Module, inputs: Sequence[Tensor]) -> int:
    """FLOPs of one forward pass (matmuls/convolutions; a multiply-add counts as 2)."""
    with FlopCounterMode(display=False) as counter:
        module(*inputs)
    return int(counter.get_total_flops())


class _DenoiserPass(nn.Module):
    """One stage-1 network evaluation including its conditioning, as a sampler step pays for it."""

    def __init__(self, pds: PDS, batch: Batch) -> None:
        super().__init__()
        self.pds = pds
        self.batch = batch

    def forward(self, x_t: Tensor, t: Tensor) -> Tensor:
        return self.pds.denoiser(x_t, self.pds.denoiser_source(self.batch), self.pds.condition(self.batch, t))


@torch.no_grad()
def pds_component_costs(pds: PDS, batch: Batch, repeats: int = 3, flops: bool = True) -> dict[str, dict[str, float]]:
    """Time (and FLOPs) of one denoiser evaluation and of each refiner on ``batch``."""
    source = batch["source"]
    t = torch.full((source.shape[0],), 500, dtype=torch.long, device=source.device)
    parts: dict[str, tuple[nn.Module, tuple[Tensor, ...]]] = {
        "denoiser": (_DenoiserPass(pds, batch), (torch.randn_like(source), t))
    }
    if pds.tissue_refiner is not None:
        parts["tissue_refiner"] = (pds.tissue_refiner, (source, source, batch["tissue"]))
    if pds.micro_refiner is not None:
        parts["micro_refiner"] = (pds.micro_refiner, (source, source))
    out: dict[str, dict[str, float]] = {}
    for name, (module, inputs) in parts.items():
        out[name] = time_forward(module, inputs, repeats)
        if flops:
            out[name]["flops"] = float(count_flops(module, inputs))
    return out
