"""What every sampler shares: the registry, the timestep grid, x0 clipping and seeded noise.

A sampler only sees ``model_fn(x_t, t) -> model_output`` (t: (B,) long tensor) and a
:class:`~pds_mri.diffusion.schedule.NoiseSchedule`; it never touches the network, so the same sampler
drives PDS, the conditional-DDPM baseline and oracle test models alike. One sampler per file in this
package (diffusers style), registered by name in :data:`SAMPLERS`; every one passes the contract test
(``tests/diffusion/samplers/test_sampler_contract.py``).

Timestep spacing (``spacing``), for ``steps`` = n out of T training steps:

* ``"trailing"`` (default): t_i = round(T − i·T/n) − 1, i.e. 999, 899, …, 99 for n = 10. The first
  evaluation is at the last training step, where x_T ~ N(0, I) really is the marginal, so few-step
  sampling does not start from a mis-specified point (Lin et al. 2024, "Common diffusion noise
  schedules and sample steps are flawed").
* ``"leading"``: t_i = (n − 1 − i)·⌊T/n⌋, i.e. 900, 800, …, 0 (DDIM paper, diffusers' default). With
  few steps it starts from pure noise at t = 900, where the true marginal still holds ~signal, which
  costs quality; kept for comparison with published DDIM numbers.

Every sampler ends on the clean end (ᾱ = 1, MONAI's ``set_alpha_to_one=True``), so its output is the
last x0 prediction. With an oracle ε (exact for a fixed x0) the samplers here return x0 exactly at any step
count: every update keeps x on the line α_t·x0 + σ_t·ε (see the tests).

torch is imported inside the methods: the config validates ``sampler:`` against :data:`SAMPLERS` and must
load without torch (``tests/test_import_layers.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from pds_mri.domain import Spacing
from pds_mri.registry import Registry

if TYPE_CHECKING:
    import torch
    from torch import Tensor

    from pds_mri.diffusion.schedule import NoiseSchedule
    from pds_mri.training.sample_rng import Rng

ModelFn = Callable[["Tensor", "Tensor"], "Tensor"]


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
    """Shared plumbing: timestep grid, x0 clipping, seeded noise. Subclasses implement :meth:`sample`.

    Every sampler takes the same arguments, so :func:`~pds_mri.diffusion.samplers.build_sampler` builds any
    of them from the config; ``eta`` (stochasticity, 0 = deterministic) is used by samplers whose
    ``stochastic`` is True and ignored by the others.
    """

    stochastic: ClassVar[bool] = False

    def __init__(
        self,
        schedule: NoiseSchedule,
        eta: float = 0.0,
        spacing: Spacing = "trailing",
        clip_x0: float | None = None,
    ) -> None:
        if eta < 0:
            raise ValueError(f"eta must be >= 0, got {eta}")
        self.schedule = schedule
        self.eta = float(eta)
        self.spacing: Spacing = spacing
        self.clip_x0 = clip_x0
        make_timesteps(schedule.timesteps, 1, spacing)  # validate spacing early

    def timesteps(self, steps: int) -> list[int]:
        return make_timesteps(self.schedule.timesteps, steps, self.spacing)

    def _x0_eps(self, model_fn: ModelFn, x: Tensor, t: int) -> tuple[Tensor, Tensor]:
        import torch

        tt = torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)
        x0, eps = self.schedule.predict_x0_eps(model_fn(x, tt), x, tt)
        if self.clip_x0 is not None:
            x0 = x0.clamp(-self.clip_x0, self.clip_x0)
        return x0, eps

    @staticmethod
    def initial_noise(
        shape: tuple[int, ...],
        generator: Rng = None,
        device: torch.device | str = "cpu",
        dtype: torch.dtype | None = None,
    ) -> Tensor:
        """x_T ~ N(0, I) (float32 unless `dtype`) drawn on the generator's device, so a seed gives the same
        noise everywhere (one stream per sample for a `SampleRng`: a training step's stage-1 estimates)."""
        import torch

        from pds_mri.training.sample_rng import randn

        return randn(shape, generator, device, dtype or torch.float32)

    def sample(self, model_fn: ModelFn, x_T: Tensor, steps: int, generator: Rng = None) -> Tensor:
        raise NotImplementedError


#: Every sampler by name; `model.diffusion.sampler` in the config is checked against it.
SAMPLERS: Registry[type[Sampler]] = Registry("sampler")
