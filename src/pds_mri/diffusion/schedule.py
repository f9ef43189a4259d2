"""Discrete-time Gaussian noise schedule and conversions between model parametrisations.

The schedule knows nothing about networks or samplers (diffusers/MONAI style): it holds
``alphas_cumprod`` (ᾱ_t), adds noise for training, and converts a network output in any of the three
parametrisations (ε, v, x0) into the pair (x0, ε) that every sampler works with.

Beta tables come from MONAI's ``NoiseSchedules`` registry (so they are bit-identical to MONAI's own
schedulers, which the tests use as a reference); they are kept in float64 here and cast to the sample's
dtype at use, so a float64 oracle run is exact to rounding.

Notation: x_t = α_t x0 + σ_t ε with α_t = sqrt(ᾱ_t), σ_t = sqrt(1 − ᾱ_t); v = α_t ε − σ_t x0.
"""

from __future__ import annotations

from typing import Literal

import torch
from monai.networks.schedulers import NoiseSchedules
from torch import Tensor

from pds_mri.training.sample_rng import Rng, randint, rng_device

PredictionType = Literal["eps", "v", "x0"]
ScheduleName = Literal["cosine", "linear", "scaled_linear"]

_MONAI_NAMES = {"cosine": "cosine", "linear": "linear_beta", "scaled_linear": "scaled_linear_beta"}
PREDICTION_TYPES: tuple[str, ...] = ("eps", "v", "x0")


class NoiseSchedule:
    """ᾱ_t table for ``timesteps`` training steps plus the parametrisation the network is trained in.

    ``cosine`` is Nichol & Dhariwal (2021) (betas clipped at 0.999, as MONAI and diffusers do);
    ``linear`` is DDPM's 1e-4 → 2e-2 (``beta_start``/``beta_end`` to change it).
    """

    def __init__(
        self,
        schedule: ScheduleName = "cosine",
        timesteps: int = 1000,
        prediction_type: PredictionType = "x0",
        beta_start: float = 1e-4,
        beta_end: float = 2e-2,
    ) -> None:
        if schedule not in _MONAI_NAMES:
            raise ValueError(f"schedule must be one of {sorted(_MONAI_NAMES)}, got {schedule!r}")
        if prediction_type not in PREDICTION_TYPES:
            raise ValueError(f"prediction_type must be one of {PREDICTION_TYPES}, got {prediction_type!r}")
        if timesteps < 2:
            raise ValueError(f"timesteps must be >= 2, got {timesteps}")
        args: dict[str, float] = {} if schedule == "cosine" else {"beta_start": beta_start, "beta_end": beta_end}
        out = NoiseSchedules[_MONAI_NAMES[schedule]](num_train_timesteps=timesteps, **args)
        betas = out[0] if isinstance(out, tuple) else out
        self.schedule = schedule
        self.timesteps = int(timesteps)
        self.prediction_type: PredictionType = prediction_type
        self.betas = betas.to(torch.float64)
        self.alphas_cumprod = torch.cumprod(1.0 - self.betas, dim=0)
        self._tables: dict[str, Tensor] = {}  # alphas_cumprod per device (alpha_bar)

    def __repr__(self) -> str:
        return (
            f"NoiseSchedule(schedule={self.schedule!r}, timesteps={self.timesteps}, "
            f"prediction_type={self.prediction_type!r})"
        )

    # -- table look-ups -------------------------------------------------------------------------------
    def alpha_bar(self, t: Tensor | int, like: Tensor) -> Tensor:
        """ᾱ_t broadcast against ``like`` (shape (B, 1, 1, ...)); t < 0 means the clean end, ᾱ = 1.

        Looked up on ``like``'s device from a table kept there, so a training step on a GPU never waits for a
        device-to-host copy of its timesteps. The range check runs where it is free (timesteps on the CPU); on a
        GPU an out-of-range index fails in the kernel instead.
        """
        t = torch.as_tensor(t, dtype=torch.long).reshape(-1)
        if t.device.type == "cpu" and t.numel() and int(t.max()) >= self.timesteps:
            raise ValueError(f"timestep out of range [0, {self.timesteps}): {int(t.max())}")
        table = self._table(like.device)
        t = t.to(table.device)
        ab = torch.where(t < 0, torch.ones((), dtype=table.dtype, device=table.device), table[t.clamp(min=0)])
        return ab.to(dtype=like.dtype).reshape(-1, *([1] * (like.ndim - 1)))

    def _table(self, device: torch.device) -> Tensor:
        """ᾱ on `device`, in float64 (float32 on MPS, which has no float64), copied there once."""
        key = str(device)
        cached = self._tables.get(key)
        if cached is None:
            dtype = torch.float32 if device.type == "mps" else torch.float64
            cached = self._tables[key] = self.alphas_cumprod.to(device=device, dtype=dtype)
        return cached

    def alpha_sigma(self, t: Tensor | int, like: Tensor) -> tuple[Tensor, Tensor]:
        ab = self.alpha_bar(t, like)
        return ab.sqrt(), (1.0 - ab).sqrt()

    # -- training -------------------------------------------------------------------------------------
    def sample_timesteps(self, batch: int, generator: Rng = None, device: torch.device | str = "cpu") -> Tensor:
        """Uniform integer timesteps, drawn on the generator's device so seeding is device-independent
        (one stream per sample for a `SampleRng`)."""
        gdev = rng_device(generator, "cpu")
        return randint(0, self.timesteps, (batch,), generator, gdev).to(device)

    def add_noise(self, x0: Tensor, noise: Tensor, t: Tensor) -> Tensor:
        alpha, sigma = self.alpha_sigma(t, x0)
        return alpha * x0 + sigma * noise

    def target(self, x0: Tensor, noise: Tensor, t: Tensor) -> Tensor:
        """What the network is regressed onto for this schedule's ``prediction_type``."""
        if self.prediction_type == "eps":
            return noise
        if self.prediction_type == "x0":
            return x0
        alpha, sigma = self.alpha_sigma(t, x0)
        return alpha * noise - sigma * x0

    # -- conversions ----------------------------------------------------------------------------------
    def predict_x0_eps(
        self,
        model_output: Tensor,
        x_t: Tensor,
        t: Tensor | int,
        prediction_type: PredictionType | None = None,
    ) -> tuple[Tensor, Tensor]:
        """(x0, ε) implied by a network output; ``prediction_type`` defaults to the schedule's.

        ε→x0 divides by α_t (≈5e-5 at t=999 of the cosine schedule), so ε-prediction amplifies network
        errors at high noise; v and x0 stay well conditioned (x0 is PDS's default, see models/config.py).
        """
        kind = prediction_type or self.prediction_type
        alpha, sigma = self.alpha_sigma(t, x_t)
        if kind == "eps":
            eps = model_output
            x0 = (x_t - sigma * eps) / alpha
        elif kind == "v":
            x0 = alpha * x_t - sigma * model_output
            eps = alpha * model_output + sigma * x_t
        elif kind == "x0":
            x0 = model_output
            eps = (x_t - alpha * x0) / sigma.clamp(min=torch.finfo(x_t.dtype).eps)
        else:
            raise ValueError(f"prediction_type must be one of {PREDICTION_TYPES}, got {kind!r}")
        return x0, eps

    def output_from_x0(
        self, x0: Tensor, x_t: Tensor, t: Tensor | int, prediction_type: PredictionType | None = None
    ) -> Tensor:
        """Inverse of :meth:`predict_x0_eps` given x_t: the network output that would imply ``x0``."""
        kind = prediction_type or self.prediction_type
        if kind == "x0":
            return x0
        alpha, sigma = self.alpha_sigma(t, x_t)
        eps = (x_t - alpha * x0) / sigma.clamp(min=torch.finfo(x_t.dtype).eps)
        return eps if kind == "eps" else alpha * eps - sigma * x0
