"""Classifier-free guidance: not a sampler feature but a ``model_fn`` wrapper, so every sampler has it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pds_mri.diffusion.samplers.base import ModelFn

if TYPE_CHECKING:
    from torch import Tensor


def guided(model_fn_cond: ModelFn, model_fn_uncond: ModelFn | None, scale: float) -> ModelFn:
    """Classifier-free guidance: uncond + scale·(cond − uncond).

    ``scale == 1`` (or no unconditional function) returns ``model_fn_cond`` itself, so there is no
    second network evaluation and no extra cost. The combination is linear, so it is valid for ε, v and
    x0 outputs alike.
    """
    if model_fn_uncond is None or scale == 1.0:
        return model_fn_cond

    def fn(x_t: Tensor, t: Tensor) -> Tensor:
        cond = model_fn_cond(x_t, t)
        uncond = model_fn_uncond(x_t, t)
        return uncond + scale * (cond - uncond)

    return fn
