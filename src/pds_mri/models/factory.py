"""Build PDS, its noise schedule and its sampler from the typed config (``models/config.py`` stays torch-free)."""

from __future__ import annotations

from collections.abc import Sequence

from pds_mri.diffusion.samplers import Sampler, build_sampler
from pds_mri.diffusion.schedule import NoiseSchedule
from pds_mri.diffusion.training_timesteps import TrainingTimesteps
from pds_mri.models.conditioning import Conditioning
from pds_mri.models.config import DiffusionConfig, PDSConfig, denoiser_options
from pds_mri.models.denoiser import ConditionalDenoiser3D
from pds_mri.models.micro_refiner import MicrostructureRefiner
from pds_mri.models.pattern_encoder import PatternEncoder
from pds_mri.models.pds import PDS
from pds_mri.models.tissue_refiner import TissueRefiner


def build_pds(cfg: PDSConfig, roi_network: Sequence[int]) -> PDS:
    """Instantiate PDS from its config; ``roi_network`` maps each Dosenbach ROI (label r → entry r−1)
    to its network index, so the model never loads atlases itself."""
    emb = cfg.emb_dim
    d = cfg.diffusion
    return PDS(
        denoiser=ConditionalDenoiser3D(emb, in_channels=3 if cfg.mask_input else 2, **denoiser_options(cfg)),
        conditioning=Conditioning(emb, cfg.use_direction, cfg.use_diagnosis, cfg.use_pattern),
        pattern_encoder=PatternEncoder(roi_network, emb, cfg.pattern_hidden) if cfg.use_pattern else None,
        tissue_refiner=TissueRefiner(cfg.tissue_channels, cfg.tissue_levels) if cfg.use_tissue else None,
        micro_refiner=(
            MicrostructureRefiner(cfg.micro_channels, cfg.micro_depth, cfg.micro_shared) if cfg.use_micro else None
        ),
        pattern_loss_weight=cfg.pattern_loss_weight,
        disease_map_weight=cfg.disease_map_weight,
        stage1_loss=cfg.stage1_loss,
        diagnosis_drop_prob=cfg.diagnosis_drop_prob,
        tissue_weights=cfg.tissue_weights,
        contrast_weight=cfg.contrast_weight,
        micro_grad_weight=cfg.micro_grad_weight,
        micro_ssim_weight=cfg.micro_ssim_weight,
        timesteps=TrainingTimesteps(build_schedule(d), d.train_timesteps, d.steps, d.spacing, d.terminal_weight),
        readout_input=d.readout_input,
        mask_input=cfg.mask_input,
    )


def build_schedule(cfg: DiffusionConfig) -> NoiseSchedule:
    return NoiseSchedule(cfg.schedule, cfg.timesteps, cfg.prediction_type)


def build_config_sampler(cfg: DiffusionConfig, schedule: NoiseSchedule | None = None) -> Sampler:
    """The configured sampler (on ``schedule``, or a fresh one built from ``cfg``)."""
    return build_sampler(cfg.sampler, schedule or build_schedule(cfg), cfg.eta, cfg.spacing, cfg.clip_x0)
