"""Typed configuration of the PDS model (``PDSConfig``) and of its diffusion process (``DiffusionConfig``).

Both are pydantic models with ``extra='forbid'`` (a typo is an error naming the field) so they can be
nested into :class:`pds_mri.config.Config`. Every component of the method is one flag, so an ablation is
one line of YAML (``use_pattern: false`` = "no pattern", etc.).

Defaults and why
----------------
* ``prediction_type='x0'`` on the ``cosine`` schedule, chosen by measurement: a tiny PDS (8 base
  channels, 3 levels) trained 300 Adam steps (lr 2e-3) on two synthetic subjects per direction and
  sampled with DPM-Solver++ at 8 steps reached training-target PSNR 35.4 / 30.9 dB (fMRI→dMRI /
  dMRI→fMRI grids) with x0, 21.7 / 21.3 dB with v and 14.8 / 14.6 dB with ε (source-as-prediction:
  16.0 / 8.3 dB); x0 already gave 34.7 / 28.3 dB at a single step. The target is nearly determined by
  the subject's own source map, so regressing x0 directly (with the L1 loss) is the easy problem; ε is
  the worst because ε→x0 divides by α_t (≈5e-5 at t = 999 of the cosine schedule), amplifying its error
  ~10⁴-fold at the first few-step, trailing-spaced sampler step. DPM-Solver++ is a data-prediction
  solver, so x0 is also its natural parametrisation. Re-check on real grids with the steps sweep below.
* ``mode='mean'``, ``mean_steps=1``, ``readout_input='zero'``: PSNR rewards the posterior mean
  E[target | source]; a posterior sample pays up to twice its squared error. With x0-prediction the
  prediction at t = T − 1 (ᾱ = 2.4e-9 on this cosine schedule, so x_T carries no signal) is a regression
  estimate of that mean in one network evaluation (YODA's regression sampling); feeding x_T = 0 (E[x_T])
  instead of one noise draw, with the terminal-weight training draws made with ε = 0, measured +0.33 / +0.48
  dB on the stage-1 readout at 400 steps (validation, fold 0 of the 60-subject seed-4242 cohort; all
  figures here are from ``benchmarks/results/quality/``).
* ``train_timesteps='sampler'``, ``terminal_weight=0.5``: stage 1 trains only on the timesteps synthesis
  visits (the 8 trailing sampler steps, Fast-DDPM) and puts half of its draws on the readout, so sample mode
  still works; ``terminal_weight=1`` gives the readout every step (more PSNR, no sampler training).
* ``stage1_loss='l2'``: L2 estimates the mean, L1 the median; L2 measured +1.08 / +0.60 dB on the stage-1
  readout and +0.10 / +0.46 dB on the refined synthesis (fold-0 test) over L1. The ``unet`` baseline gets
  the same remedy (``baselines.loss='l2'``: +0.87 / +0.32 dB).
* ``stage2_estimate='synthesis'``: the refiners train on exactly the estimate synthesis hands them.
* ``mask_input=True``: the denoiser sees the brain mask beside the source, as the ``unet`` baseline always
  has (+0.37 / +0.10 dB on the stage-1 readout at 200 steps).
* ``sampler='dpmpp_2m'``, ``steps=8``, ``spacing='trailing'`` (``mode='sample'``): DPM-Solver++(2M) is a
  data-prediction second-order solver; 8 steps were within 0.11 dB of 50 in the steps sweep of the earlier
  uniform-timestep models (``benchmarks/results/benchmark/steps_sweep.md``).
* ``guidance=1.0``: classifier-free guidance doubles the cost; keep the conditional evaluation only
  unless a measurement shows a gain. The diagnosis is still dropped in training
  (``diagnosis_drop_prob=0.2``) so that unknown labels (−1) and guidance both work.
* ``base_channels=32``, ``levels=4``: ≈ 8 M denoiser parameters (the authors' ≈ 190 M is not a goal);
  fits a CPU training step at the paper grid within a few GB (``gradient_checkpointing`` on GPU).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pds_mri.diffusion.samplers import SAMPLERS
from pds_mri.domain import Spacing


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DiffusionConfig(_Strict):
    """Noise schedule, parametrisation and sampler (kept apart from the network, diffusers style)."""

    schedule: Literal["cosine", "linear", "scaled_linear"] = "cosine"
    timesteps: int = Field(1000, ge=2, le=100_000, description="training timesteps T")
    prediction_type: Literal["eps", "v", "x0"] = "x0"
    sampler: str = Field("dpmpp_2m", description="a registered sampler (pds_mri.diffusion.samplers)")
    steps: int = Field(8, ge=1, description="network evaluations per sample at synthesis")
    eta: float = Field(0.0, ge=0.0, description="DDIM stochasticity (0 = deterministic); ignored by dpmpp_2m")
    spacing: Spacing = "trailing"
    clip_x0: float | None = Field(1.0, gt=0, description="clamp x0 predictions to ±this (data is in [-1, 1])")
    guidance: float = Field(1.0, ge=0.0, description="classifier-free guidance scale on the diagnosis")
    stage2_steps: int = Field(
        4, ge=1, description="sampler steps of the stage-1 samples stage 2 trains on (stage2_estimate: sample)"
    )
    mode: Literal["mean", "sample"] = Field(
        "mean", description="synthesis: mean = posterior-mean readout (mean_steps evaluations); sample = one draw"
    )
    mean_steps: int = Field(1, ge=1, description="denoiser evaluations of the mean readout (1 = x0 at t = T-1)")
    train_timesteps: Literal["uniform", "sampler"] = Field(
        "sampler", description="stage-1 timesteps: uniform over T, or the sampler's `steps` grid (Fast-DDPM)"
    )
    terminal_weight: float = Field(
        0.5, ge=0.0, le=1.0, description="share of stage-1 draws at t = T-1, the mean readout's timestep"
    )
    readout_input: Literal["noise", "zero"] = Field(
        "zero", description="mean readout from x_T = 0 (terminal-weight draws trained with eps = 0) or from noise"
    )
    stage2_estimate: Literal["synthesis", "sample"] = Field(
        "synthesis", description="stage 2 trains on the estimate synthesis makes (mode, steps) or on a sample"
    )

    @field_validator("sampler")
    @classmethod
    def _registered_sampler(cls, v: str) -> str:
        return SAMPLERS.check(v)


class PDSConfig(_Strict):
    """Networks, loss weights and ablation flags of PDS; ``diffusion`` holds the sampling process."""

    # stage-1 denoiser
    base_channels: int = Field(32, ge=1, le=512)
    levels: int = Field(4, ge=1, le=6, description="U-Net resolutions; grids are padded to 2**(levels-1)")
    res_blocks: int = Field(1, ge=1, le=8, description="residual blocks per level and path")
    max_channel_mult: int = Field(4, ge=1, le=16)
    attention: bool = Field(True, description="self-attention at the lowest level")
    gradient_checkpointing: bool = False
    embed_dim: int | None = Field(None, ge=1, description="conditioning width; default 4 * base_channels")
    mask_input: bool = Field(True, description="the denoiser also sees the brain mask (as the unet baseline does)")
    # conditioning / pattern
    use_pattern: bool = True
    use_diagnosis: bool = True
    use_direction: bool = True
    pattern_hidden: int = Field(128, ge=1)
    pattern_loss_weight: float = Field(1.0, ge=0.0, description="weight of the loss term on ROI voxels")
    stage1_loss: Literal["l1", "l2"] = Field(
        "l2", description="stage-1 loss on the prediction (paper: L1; L2 estimates the mean, measured better)"
    )
    diagnosis_drop_prob: float = Field(0.2, ge=0.0, le=1.0)
    # disease-informed priors, fitted on the training subjects of each run (pds_mri.disease)
    disease_state: bool = Field(
        False, description="condition label-free syntheses on a source-only estimate of the diagnosis"
    )
    disease_map_weight: float = Field(
        0.0, ge=0.0, description="weight of a stage-1 loss term weighted by the training fold's disease map"
    )
    # stage 2: tissue refinement
    use_tissue: bool = True
    tissue_channels: int = Field(16, ge=1, le=512)
    tissue_levels: int = Field(3, ge=2, le=6)
    tissue_weights: tuple[float, float, float] = Field(
        (2.0, 1.5, 1.0), description="L1 weights of GM, WM, CSF (GM carries BOLD signal and atrophy)"
    )
    contrast_weight: float = Field(0.1, ge=0.0)
    # stage 2: microstructure refinement
    use_micro: bool = True
    micro_channels: int = Field(16, ge=1, le=512)
    micro_depth: int = Field(3, ge=2, le=16)
    micro_shared: bool = Field(False, description="one 2D net for all three views")
    micro_grad_weight: float = Field(1.0, ge=0.0)
    micro_ssim_weight: float = Field(0.5, ge=0.0)
    diffusion: DiffusionConfig = DiffusionConfig()

    @property
    def emb_dim(self) -> int:
        return self.embed_dim if self.embed_dim is not None else 4 * self.base_channels


def denoiser_options(cfg: PDSConfig) -> dict[str, Any]:
    """The stage-1 U-Net's architecture; the unet / pix2pix3d baselines reuse it so parameter counts match."""
    return {
        "base_channels": cfg.base_channels,
        "levels": cfg.levels,
        "res_blocks": cfg.res_blocks,
        "max_channel_mult": cfg.max_channel_mult,
        "attention": cfg.attention,
        "gradient_checkpointing": cfg.gradient_checkpointing,
    }
