"""DDIM (Song et al. 2021)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from pds_mri.diffusion.samplers.base import SAMPLERS, ModelFn, Sampler

if TYPE_CHECKING:
    from torch import Tensor

    from pds_mri.training.sample_rng import Rng


@SAMPLERS.register("ddim", help="DDIM; eta 0 deterministic, 1 ~ DDPM ancestral noise")
class DDIMSampler(Sampler):
    """DDIM (Song et al. 2021, eq. 12/16); ``eta`` = 0 deterministic, 1 ≈ DDPM ancestral noise.

    Matches ``monai.networks.schedulers.DDIMScheduler.step`` (clip_sample=False, set_alpha_to_one=True)
    for the same (t, t_prev) pair; whole trajectories differ from MONAI only because MONAI's
    ``set_timesteps`` rounds a linspace while its ``step`` jumps by ⌊T/n⌋, so its visited grid is
    neither of ours.
    """

    stochastic = True

    def step(
        self,
        x0: Tensor,
        eps: Tensor,
        x: Tensor,
        t: int,
        t_prev: int,
        generator: Rng = None,
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

    def sample(self, model_fn: ModelFn, x_T: Tensor, steps: int, generator: Rng = None) -> Tensor:
        ts = self.timesteps(steps)
        x = x_T
        for i, t in enumerate(ts):
            x0, eps = self._x0_eps(model_fn, x, t)
            t_prev = ts[i + 1] if i + 1 < len(ts) else -1
            x = self.step(x0, eps, x, t, t_prev, generator)
        return x
