"""PDS: pattern-aware dual-modal conditional diffusion (stage 1) + tissue and microstructure refinement.

Batch convention (one dict per direction; every tensor on the *target* modality's model grid):

=============  ======================  ==========================================================
key            shape / dtype           meaning
=============  ======================  ==========================================================
``source``     (B,1,X,Y,Z) float       source map resampled to the target grid, in [−1, 1]
``target``     (B,1,X,Y,Z) float       real target map in [−1, 1] (training only)
``mask``       (B,1,X,Y,Z) float       brain mask {0, 1}
``tissue``     (B,3,X,Y,Z) float       GM/WM/CSF probabilities (stage 2)
``pattern``    (B,X,Y,Z) long          Dosenbach ROI labels, 0 = background .. 160
``direction``  (B,) long               0 = fmri2dmri, 1 = dmri2fmri
``diagnosis``  (B,) long               0 NC, 1 MCI, 2 AD, −1 unknown
``diagnosis_probs`` (B,3) float        optional: estimated NC/MCI/AD probabilities for unknown labels
``disease_map`` (B,X,Y,Z) float        optional: disease-pattern map in [0, 1] (stage-1 loss weight)
=============  ======================  ==========================================================

The network, the noise schedule and the sampler are separate objects: losses take the schedule and
synthesis takes a sampler, so the same trained PDS can be sampled with DDIM or DPM-Solver++ at any step
count. Training uses two stages: :meth:`PDS.stage1_loss` for the denoiser, conditioning and pattern
encoder (``stage_parameters(1)``) and :meth:`PDS.stage2_loss` for the refiners (``stage_parameters(2)``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import torch
from torch import Tensor, nn

from pds_mri.diffusion.samplers import ModelFn, Sampler, guided
from pds_mri.diffusion.schedule import NoiseSchedule
from pds_mri.diffusion.training_timesteps import TrainingTimesteps
from pds_mri.domain import BACKGROUND, SYNTHESIS_MODES
from pds_mri.models.conditioning import Conditioning
from pds_mri.models.denoiser import ConditionalDenoiser3D, parameter_count
from pds_mri.models.losses import (
    STAGE1_LOSSES,
    WEIGHTED_STAGE1_LOSSES,
    masked_l1,
    multiscale_gradient_loss,
    tissue_contrast_loss,
    tissue_weighted_l1,
    triplanar_ssim_loss,
)
from pds_mri.models.micro_refiner import MicrostructureRefiner
from pds_mri.models.pattern_encoder import PatternEncoder
from pds_mri.models.tissue_refiner import TissueRefiner
from pds_mri.training.sample_rng import Rng, randn

Batch = Mapping[str, Tensor]
#: synthesis modes: ``mean`` = the posterior-mean estimate (the x0 readout after ``mean_steps`` evaluations from
#: pure noise, 1 by default), ``sample`` = a stochastic posterior sample (``steps`` sampler steps)
#: what the denoiser's noisy-target channel holds for the mean readout: pure noise x_T ~ N(0, I) (the
#: diffusion's own t = T − 1 input) or zeros (E[x_T]; the terminal-weight draws of training then use ε = 0)
READOUT_INPUTS = ("noise", "zero")


def _randn_like(x: Tensor, generator: Rng) -> Tensor:
    return randn(x.shape, generator, x.device, x.dtype)


class PDS(nn.Module):
    """All PDS components; ``None`` for a component means it is switched off (an ablation).

    ``use_pattern`` off removes both halves of pattern awareness: the pattern encoder and the ROI term of
    the stage-1 loss (``pattern_loss_weight`` is then ignored).
    """

    def __init__(
        self,
        denoiser: ConditionalDenoiser3D,
        conditioning: Conditioning,
        pattern_encoder: PatternEncoder | None = None,
        tissue_refiner: TissueRefiner | None = None,
        micro_refiner: MicrostructureRefiner | None = None,
        *,
        pattern_loss_weight: float = 1.0,
        disease_map_weight: float = 0.0,
        stage1_loss: str = "l1",
        diagnosis_drop_prob: float = 0.2,
        tissue_weights: Sequence[float] = (2.0, 1.5, 1.0),
        contrast_weight: float = 0.1,
        micro_grad_weight: float = 1.0,
        micro_ssim_weight: float = 0.5,
        timesteps: TrainingTimesteps | None = None,
        readout_input: str = "noise",
        mask_input: bool = False,
    ) -> None:
        super().__init__()
        if readout_input not in READOUT_INPUTS:
            raise ValueError(f"readout_input must be one of {READOUT_INPUTS}, got {readout_input!r}")
        self.training_timesteps = timesteps
        self.readout_input = readout_input
        self.mask_input = bool(mask_input)
        if conditioning.use_pattern != (pattern_encoder is not None):
            raise ValueError("conditioning.use_pattern must match whether a pattern encoder is given")
        self.denoiser = denoiser
        self.conditioning = conditioning
        self.pattern_encoder = pattern_encoder
        self.tissue_refiner = tissue_refiner
        self.micro_refiner = micro_refiner
        self.pattern_loss_weight = float(pattern_loss_weight)
        self.disease_map_weight = float(disease_map_weight)
        if stage1_loss not in STAGE1_LOSSES:
            raise ValueError(f"stage1_loss must be one of {sorted(STAGE1_LOSSES)}, got {stage1_loss!r}")
        self.stage1_loss_name = stage1_loss
        self.stage1_loss_fn = STAGE1_LOSSES[stage1_loss]
        self.diagnosis_drop_prob = float(diagnosis_drop_prob)
        self.tissue_weights = tuple(float(w) for w in tissue_weights)
        self.contrast_weight = float(contrast_weight)
        self.micro_grad_weight = float(micro_grad_weight)
        self.micro_ssim_weight = float(micro_ssim_weight)

    # -- flags and bookkeeping ------------------------------------------------------------------------
    @property
    def use_pattern(self) -> bool:
        return self.pattern_encoder is not None

    @property
    def use_tissue(self) -> bool:
        return self.tissue_refiner is not None

    @property
    def use_micro(self) -> bool:
        return self.micro_refiner is not None

    @property
    def has_stage2(self) -> bool:
        return self.use_tissue or self.use_micro

    #: submodules trained in stage 1 (the conditional diffusion) and in stage 2 (the refiners)
    STAGE1_MODULES = ("denoiser", "conditioning", "pattern_encoder")
    STAGE2_MODULES = ("tissue_refiner", "micro_refiner")

    def stage_parameters(self, stage: int) -> Iterator[nn.Parameter]:
        """Parameters trained in stage 1 (denoiser, conditioning, pattern encoder) or 2 (refiners)."""
        if stage not in (1, 2):
            raise ValueError(f"stage must be 1 or 2, got {stage}")
        names = self.STAGE1_MODULES if stage == 1 else self.STAGE2_MODULES
        parts: list[nn.Module | None] = [getattr(self, name) for name in names]
        for part in parts:
            if part is not None:
                yield from part.parameters()

    def parameter_counts(self) -> dict[str, int]:
        parts = {
            "denoiser": self.denoiser,
            "conditioning": self.conditioning,
            "pattern_encoder": self.pattern_encoder,
            "tissue_refiner": self.tissue_refiner,
            "micro_refiner": self.micro_refiner,
        }
        counts = {k: parameter_count(m) if m is not None else 0 for k, m in parts.items()}
        counts["total"] = sum(counts.values())
        return counts

    def forward(
        self,
        batch: Batch,
        schedule: NoiseSchedule | None = None,
        generator: Rng = None,
        stage: int = 1,
        stage1_estimate: Tensor | None = None,
    ) -> dict[str, Tensor]:
        """Training loss of ``stage`` (1 or 2): the entry point for DDP, whose gradient hooks need forward.

        In stage 1 the refiners are unused and in stage 2 the denoiser is, so wrap with
        ``find_unused_parameters=True`` or pass only ``stage_parameters(stage)`` to the optimiser.
        """
        if stage == 1:
            if schedule is None:
                raise ValueError("stage 1 needs the noise schedule")
            return self.stage1_loss(batch, schedule, generator)
        if stage == 2:
            return self.stage2_loss(batch, stage1_estimate, generator=generator)
        raise ValueError(f"stage must be 1 or 2, got {stage}")

    # -- conditioning ---------------------------------------------------------------------------------
    def denoiser_source(self, batch: Batch) -> Tensor:
        """What the denoiser sees beside x_t: the source map, and with ``mask_input`` the brain mask (±1), the
        exact brain boundary on the target grid that the resampled source only blurs."""
        source = batch["source"]
        if not self.mask_input:
            return source
        mask = batch.get("mask")
        channel = torch.ones_like(source) if mask is None else (mask > 0).to(source.dtype) * 2.0 - 1.0
        return torch.cat([source, channel], dim=1)

    def pattern_embedding(self, batch: Batch) -> Tensor | None:
        if self.pattern_encoder is None:
            return None
        return self.pattern_encoder(batch["source"], batch["pattern"])

    def condition(
        self,
        batch: Batch,
        t: Tensor,
        pattern_emb: Tensor | None = None,
        drop_prob: float = 0.0,
        generator: Rng = None,
        null_diagnosis: bool = False,
    ) -> Tensor:
        """Conditioning vector for timesteps ``t``; ``null_diagnosis`` gives the unconditional branch."""
        if pattern_emb is None:
            pattern_emb = self.pattern_embedding(batch)
        diagnosis, probs = batch.get("diagnosis"), batch.get("diagnosis_probs")
        if null_diagnosis:
            probs = None
            if diagnosis is not None:
                diagnosis = torch.full_like(diagnosis, -1)
        return self.conditioning(t, batch.get("direction"), diagnosis, pattern_emb, drop_prob, generator, probs)

    # -- stage 1 --------------------------------------------------------------------------------------
    def stage1_loss(self, batch: Batch, schedule: NoiseSchedule, generator: Rng = None) -> dict[str, Tensor]:
        """Masked L1 on the ε/v/x0 prediction + ``pattern_loss_weight`` × the same L1 on ROI voxels.

        Draws t from ``training_timesteps`` (U{0..T−1} when None) and ε ~ N(0, I) from ``generator``; drops
        the diagnosis with ``diagnosis_drop_prob`` only in training mode. Returns ``loss`` (to backprop) and its parts.
        """
        target, source = batch["target"], self.denoiser_source(batch)
        mask = batch.get("mask")
        if self.training_timesteps is not None:
            t, readout = self.training_timesteps.draw(target.shape[0], generator, target.device)
        else:
            t = schedule.sample_timesteps(target.shape[0], generator, target.device)
            readout = torch.zeros_like(t, dtype=torch.bool)
        noise = _randn_like(target, generator)
        if self.readout_input == "zero" and bool(readout.any()):  # the readout's input: x_T = 0, not noise
            noise = torch.where(readout.reshape(-1, *([1] * (noise.ndim - 1))), torch.zeros_like(noise), noise)
        x_t = schedule.add_noise(target, noise, t)
        drop = self.diagnosis_drop_prob if self.training else 0.0
        cond = self.condition(batch, t, drop_prob=drop, generator=generator)
        pred = self.denoiser(x_t, source, cond)
        goal = schedule.target(target, noise, t)
        l1 = self.stage1_loss_fn(pred, goal, mask)
        loss = l1
        out = {self.stage1_loss_name: l1.detach()}
        if self.use_pattern and self.pattern_loss_weight > 0 and "pattern" in batch:
            roi = (batch["pattern"] > 0).unsqueeze(1)
            if mask is not None:
                roi = roi & (mask > 0)
            pattern_l1 = self.stage1_loss_fn(pred, goal, roi)
            loss = loss + self.pattern_loss_weight * pattern_l1
            out[f"pattern_{self.stage1_loss_name}"] = pattern_l1.detach()
        if self.disease_map_weight > 0 and "disease_map" in batch:
            weight = batch["disease_map"].reshape(target.shape).to(target.dtype)
            if mask is not None:
                weight = weight * (mask > 0)
            disease = WEIGHTED_STAGE1_LOSSES[self.stage1_loss_name](pred, goal, weight)
            loss = loss + self.disease_map_weight * disease
            out[f"disease_{self.stage1_loss_name}"] = disease.detach()
        out["loss"] = loss
        return out

    def model_fn(self, batch: Batch, schedule: NoiseSchedule, guidance: float = 1.0) -> ModelFn:
        """``model_fn(x_t, t)`` for a sampler: guidance on the diagnosis, background pinned to −1.

        The stage-1 loss ignores voxels outside the brain, so the raw prediction there is arbitrary;
        pinning x0 = −1 outside the mask keeps x_t distributed as in training at every step. Guidance
        only costs a second evaluation when some diagnosis is known and the scale is not 1.
        """
        source, mask = self.denoiser_source(batch), batch.get("mask")
        pattern_emb = self.pattern_embedding(batch)

        def cond_fn(x_t: Tensor, t: Tensor) -> Tensor:
            return self.denoiser(x_t, source, self.condition(batch, t, pattern_emb))

        def uncond_fn(x_t: Tensor, t: Tensor) -> Tensor:
            return self.denoiser(x_t, source, self.condition(batch, t, pattern_emb, null_diagnosis=True))

        diagnosis = batch.get("diagnosis")
        probs = batch.get("diagnosis_probs")
        estimated = probs is not None and bool((probs.sum(1) > 0).any())
        known = (
            estimated or (diagnosis is not None and bool((diagnosis >= 0).any()))
        ) and self.conditioning.diagnosis is not None
        fn = guided(cond_fn, uncond_fn if known else None, guidance)
        if mask is None:
            return fn

        def masked_fn(x_t: Tensor, t: Tensor) -> Tensor:
            out = fn(x_t, t)
            x0, _ = schedule.predict_x0_eps(out, x_t, t)
            x0 = torch.where(mask > 0, x0, torch.full_like(x0, BACKGROUND))
            return schedule.output_from_x0(x0, x_t, t)

        return masked_fn

    @torch.no_grad()
    def sample_stage1(
        self,
        batch: Batch,
        sampler: Sampler,
        steps: int,
        guidance: float = 1.0,
        generator: Rng = None,
    ) -> Tensor:
        """One stochastic stage-1 estimate (B,1,X,Y,Z) from x_T ~ N(0, I)."""
        source = batch["source"]
        x_T = sampler.initial_noise(tuple(source.shape), generator, source.device, source.dtype)
        return sampler.sample(self.model_fn(batch, sampler.schedule, guidance), x_T, steps, generator)

    @torch.no_grad()
    def estimate_stage1(
        self,
        batch: Batch,
        sampler: Sampler,
        steps: int,
        mode: str = "sample",
        mean_steps: int = 1,
        guidance: float = 1.0,
        generator: Rng = None,
    ) -> Tensor:
        """The stage-1 estimate that synthesis refines: a posterior sample (``steps``) or the mean readout."""
        if mode not in SYNTHESIS_MODES:
            raise ValueError(f"mode must be one of {SYNTHESIS_MODES}, got {mode!r}")
        if mode == "mean" and self.readout_input == "zero":
            x_T = torch.zeros_like(batch["source"])
            return sampler.sample(self.model_fn(batch, sampler.schedule, guidance), x_T, mean_steps, generator)
        return self.sample_stage1(batch, sampler, mean_steps if mode == "mean" else steps, guidance, generator)

    # -- stage 2 --------------------------------------------------------------------------------------
    def refine(self, batch: Batch, stage1_estimate: Tensor) -> Tensor:
        """Tissue refinement then microstructure refinement (each skipped when switched off)."""
        y = stage1_estimate
        if self.tissue_refiner is not None:
            y = self.tissue_refiner(batch["source"], y, batch["tissue"])
        if self.micro_refiner is not None:
            y = self.micro_refiner(y, batch["source"])
        return y

    def stage2_loss(
        self,
        batch: Batch,
        stage1_estimate: Tensor | None = None,
        sampler: Sampler | None = None,
        steps: int = 4,
        generator: Rng = None,
        mode: str = "sample",
        mean_steps: int = 1,
    ) -> dict[str, Tensor]:
        """Tissue loss on the tissue-refined volume + micro loss on the final volume (trained jointly).

        ``stage1_estimate`` is treated as a constant; when None it is made with ``sampler`` as synthesis makes
        it (:meth:`estimate_stage1` with ``mode``, ``steps``, ``mean_steps``), so the refiners learn to correct
        the estimate they will receive.
        Tissue loss: GM/WM/CSF-weighted L1 + ``contrast_weight`` × tissue-contrast term. Micro loss:
        masked L1 + ``micro_grad_weight`` × multi-scale gradient + ``micro_ssim_weight`` × tri-planar SSIM.
        """
        if not self.has_stage2:
            raise ValueError("stage 2 is switched off (use_tissue and use_micro are both false)")
        if stage1_estimate is None:
            if sampler is None:
                raise ValueError("pass stage1_estimate or a sampler to produce it")
            stage1_estimate = self.estimate_stage1(batch, sampler, steps, mode, mean_steps, generator=generator)
        target, mask = batch["target"], batch.get("mask")
        y = stage1_estimate.detach()
        loss = target.new_zeros(())
        out: dict[str, Tensor] = {}
        if self.tissue_refiner is not None:
            tissue = batch["tissue"]
            y = self.tissue_refiner(batch["source"], y, tissue)
            tl1 = tissue_weighted_l1(y, target, tissue, mask, self.tissue_weights)
            contrast = tissue_contrast_loss(y, target, tissue, mask)
            loss = loss + tl1 + self.contrast_weight * contrast
            out |= {"tissue_l1": tl1.detach(), "tissue_contrast": contrast.detach()}
        if self.micro_refiner is not None:
            y = self.micro_refiner(y, batch["source"])
            ml1 = masked_l1(y, target, mask)
            grad = multiscale_gradient_loss(y, target, mask)
            ssim = triplanar_ssim_loss(y, target, mask)
            loss = loss + ml1 + self.micro_grad_weight * grad + self.micro_ssim_weight * ssim
            out |= {"micro_l1": ml1.detach(), "micro_grad": grad.detach(), "micro_ssim": ssim.detach()}
        out["loss"] = loss
        return out

    # -- synthesis ------------------------------------------------------------------------------------
    @torch.no_grad()
    def synthesize(
        self,
        batch: Batch,
        sampler: Sampler,
        steps: int,
        samples: int = 1,
        guidance: float = 1.0,
        generator: Rng = None,
        mode: str = "sample",
        mean_steps: int = 1,
        samples_out: list[Tensor] | None = None,
    ) -> tuple[Tensor, Tensor]:
        """The refined estimate of ``mode`` and a voxel-wise std over ``samples`` posterior samples.

        With a list as ``samples_out`` the refined posterior samples themselves are appended to it.

        ``mode="sample"``: the estimate is the voxel-wise mean of ``samples`` refined posterior samples
        (``steps`` sampler steps each) and the std is theirs. ``mode="mean"``: the estimate is the refined
        posterior-mean readout (``mean_steps`` evaluations); with ``samples`` > 1 the std of that many refined
        posterior samples is drawn beside it (the estimate stays the readout). Samples are drawn one after
        another (memory of one sample at the paper grid); outputs are clamped to [−1, 1]; outside the mask
        the estimate is −1 and the std 0. Without several samples the std is all zeros.
        """
        if samples < 1:
            raise ValueError(f"samples must be >= 1, got {samples}")
        if mode not in SYNTHESIS_MODES:
            raise ValueError(f"mode must be one of {SYNTHESIS_MODES}, got {mode!r}")
        estimate = None
        if mode == "mean":
            est = self.estimate_stage1(batch, sampler, steps, "mean", mean_steps, guidance, generator)
            estimate = self.refine(batch, est).clamp(-1.0, 1.0)
        draws = samples if (mode == "sample" or samples > 1) else 0
        outs = []
        for _ in range(draws):
            est = self.sample_stage1(batch, sampler, steps, guidance, generator)
            outs.append(self.refine(batch, est).clamp(-1.0, 1.0))
        if samples_out is not None:
            samples_out.extend(outs)
        if outs:
            stack = torch.stack(outs)
            std = stack.std(0, unbiased=False) if len(outs) > 1 else torch.zeros_like(outs[0])
            mean = stack.mean(0) if estimate is None else estimate
        else:
            assert estimate is not None
            mean, std = estimate, torch.zeros_like(estimate)
        mask = batch.get("mask")
        if mask is not None:
            inside = mask > 0
            mean = torch.where(inside, mean, torch.full_like(mean, BACKGROUND))
            std = torch.where(inside, std, torch.zeros_like(std))
        return mean, std
