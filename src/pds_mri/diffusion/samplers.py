"""Samplers that turn a denoiser into a generator: DDIM and DPM-Solver++(2M).

A sampler only sees ``model_fn(x_t, t) -> model_output`` (t: (B,) long tensor) and a
:class:`~pds_mri.diffusion.schedule.NoiseSchedule`; it never touches the network, so the same sampler
drives PDS, the conditional-DDPM baseline and oracle test models alike.

Timestep spacing (``spacing``), for ``steps`` = n out of T training steps:

* ``"trailing"`` (default): t_i = round(T − i·T/n) − 1, i.e. 999, 899, …, 99 for n = 10. The first
  evaluation is at the last training step, where x_T ~ N(0, I) really is the marginal, so few-step
  sampling does not start from a mis-specified point (Lin et al. 2024, "Common diffusion noise
  schedules and sample steps are flawed").
* ``"leading"``: t_i = (n − 1 − i)·⌊T/n⌋, i.e. 900, 800, …, 0 (DDIM paper, diffusers' default). With
  few steps it starts from pure noise at t = 900, where the true marginal still holds ~signal, which
  costs quality; kept for comparison with published DDIM numbers.

Both samplers end on the clean end (ᾱ = 1, MONAI's ``set_alpha_to_one=True``), so their output is the
last x0 prediction. With an oracle ε (exact for a fixed x0) both return x0 exactly at any step count:
every update keeps x on the line α_t·x0 + σ_t·ε (see the tests).

Classifier-free guidance is not a sampler feature but a ``model_fn`` wrapper: :func:`guided`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from pds_mri.diffusion.schedule import NoiseSchedule

ModelFn = Callable[[Tensor, Tensor], Tensor]
Spacing = Literal["trailing", "leading"]
SamplerName = Literal["ddim", "dpmpp_2m"]


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


def make_timesteps(num_train: int, steps: int, spacing: Spacing = "trailing") -> list[int]:
    """Descending training timesteps visited by an ``steps``-step sampler (see module docstring)."""
    if not 1 <= steps <= num_train:
        raise ValueError(f"steps must be in [1, {num_train}], got {steps}")
    if spacing == "trailing":
        ts = np.round(num_train - np.arange(steps) * (num_train / steps)).astype(np.int64) - 1
    elif spacing == "leading":
        ts = (np.arange(steps)[::-1] * (num_train // steps)).astype(np.int64)
    else:
        raise ValueError(f"spacing must be 'trailing' or 'leading', got {spacing!r}")
    return [int(t) for t in ts]


class Sampler:
    """Shared plumbing: timestep grid, x0 clipping, seeded noise. Subclasses implement :meth:`sample`."""

    def __init__(self, schedule: NoiseSchedule, spacing: Spacing = "trailing", clip_x0: float | None = None) -> None:
        self.schedule = schedule
        self.spacing: Spacing = spacing
        self.clip_x0 = clip_x0
        make_timesteps(schedule.timesteps, 1, spacing)  # validate spacing early

    def timesteps(self, steps: int) -> list[int]:
        return make_timesteps(self.schedule.timesteps, steps, self.spacing)

    def _x0_eps(self, model_fn: ModelFn, x: Tensor, t: int) -> tuple[Tensor, Tensor]:
        tt = torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)
        x0, eps = self.schedule.predict_x0_eps(model_fn(x, tt), x, tt)
        if self.clip_x0 is not None:
            x0 = x0.clamp(-self.clip_x0, self.clip_x0)
        return x0, eps

    @staticmethod
    def initial_noise(
        shape: tuple[int, ...],
        generator: torch.Generator | None = None,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> Tensor:
        """x_T ~ N(0, I) drawn on the generator's device, so a seed gives the same noise everywhere."""
        gdev = generator.device if generator is not None else torch.device(device)
        return torch.randn(shape, generator=generator, device=gdev, dtype=dtype).to(device)

    def sample(self, model_fn: ModelFn, x_T: Tensor, steps: int, generator: torch.Generator | None = None) -> Tensor:
        raise NotImplementedError


class DDIMSampler(Sampler):
    """DDIM (Song et al. 2021, eq. 12/16); ``eta`` = 0 deterministic, 1 ≈ DDPM ancestral noise.

    Matches ``monai.networks.schedulers.DDIMScheduler.step`` (clip_sample=False, set_alpha_to_one=True)
    for the same (t, t_prev) pair; whole trajectories differ from MONAI only because MONAI's
    ``set_timesteps`` rounds a linspace while its ``step`` jumps by ⌊T/n⌋, so its visited grid is
    neither of ours.
    """

    def __init__(
        self,
        schedule: NoiseSchedule,
        eta: float = 0.0,
        spacing: Spacing = "trailing",
        clip_x0: float | None = None,
    ) -> None:
        super().__init__(schedule, spacing, clip_x0)
        if eta < 0:
            raise ValueError(f"eta must be >= 0, got {eta}")
        self.eta = float(eta)

    def step(
        self,
        x0: Tensor,
        eps: Tensor,
        x: Tensor,
        t: int,
        t_prev: int,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """One DDIM update from t to t_prev (t_prev < 0: the clean end) given the predicted (x0, ε)."""
        ab_t = float(self.schedule.alphas_cumprod[t])
        ab_prev = 1.0 if t_prev < 0 else float(self.schedule.alphas_cumprod[t_prev])
        var = (1.0 - ab_prev) / (1.0 - ab_t) * (1.0 - ab_t / ab_prev)
        std = self.eta * math.sqrt(max(var, 0.0))
        x_prev = math.sqrt(ab_prev) * x0 + math.sqrt(max(1.0 - ab_prev - std**2, 0.0)) * eps
        if std > 0:
            x_prev = x_prev + std * self.initial_noise(tuple(x.shape), generator, x.device, x.dtype)
        return x_prev

    def sample(self, model_fn: ModelFn, x_T: Tensor, steps: int, generator: torch.Generator | None = None) -> Tensor:
        ts = self.timesteps(steps)
        x = x_T
        for i, t in enumerate(ts):
            x0, eps = self._x0_eps(model_fn, x, t)
            t_prev = ts[i + 1] if i + 1 < len(ts) else -1
            x = self.step(x0, eps, x, t, t_prev, generator)
        return x


class DPMSolverPP2M(Sampler):
    """DPM-Solver++(2M) (Lu et al. 2022): multistep second order, data (x0) prediction.

    With h = λ_s − λ_t (λ = log α/σ) and r = h_prev/h, the update is
    x_s = (σ_s/σ_t)·x_t − α_s(e^{−h} − 1)·D, with D = x0_t on the first step and
    D = (1 + 1/2r)·x0_t − (1/2r)·x0_{t_prev} afterwards. The last step goes to σ = 0, where the
    first-order update is exactly x0_t ("lower order final", as in diffusers), so n steps cost n network
    evaluations. ``eta`` does not apply (the solver is deterministic given x_T).
    """

    def sample(self, model_fn: ModelFn, x_T: Tensor, steps: int, generator: torch.Generator | None = None) -> Tensor:
        ts = self.timesteps(steps)
        ab = self.schedule.alphas_cumprod

        def lam(t: int) -> float:
            return 0.5 * (math.log(float(ab[t])) - math.log1p(-float(ab[t])))

        x = x_T
        prev_x0: Tensor | None = None
        h_prev = 0.0
        for i, t in enumerate(ts):
            x0, _ = self._x0_eps(model_fn, x, t)
            if i + 1 == len(ts):
                return x0
            s = ts[i + 1]
            h = lam(s) - lam(t)
            if prev_x0 is None:
                d = x0
            else:
                r = h_prev / h
                d = (1.0 + 0.5 / r) * x0 - (0.5 / r) * prev_x0
            sigma_ratio = math.sqrt((1.0 - float(ab[s])) / (1.0 - float(ab[t])))
            x = sigma_ratio * x - math.sqrt(float(ab[s])) * math.expm1(-h) * d
            prev_x0, h_prev = x0, h
        return x  # unreachable: the loop returns on its last step


def build_sampler(
    name: SamplerName,
    schedule: NoiseSchedule,
    eta: float = 0.0,
    spacing: Spacing = "trailing",
    clip_x0: float | None = None,
) -> Sampler:
    if name == "ddim":
        return DDIMSampler(schedule, eta=eta, spacing=spacing, clip_x0=clip_x0)
    if name == "dpmpp_2m":
        return DPMSolverPP2M(schedule, spacing=spacing, clip_x0=clip_x0)
    raise ValueError(f"sampler must be 'ddim' or 'dpmpp_2m', got {name!r}")
