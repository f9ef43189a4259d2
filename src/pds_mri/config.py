"""Typed configuration: the one source of truth, saved next to every output and checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pds_mri.domain import PresetName
from pds_mri.errors import InputError
from pds_mri.models.baselines.config import BaselineConfig
from pds_mri.models.config import PDSConfig
from pds_mri.preprocess.maps import DMRI_MAPS, FMRI_MAPS
from pds_mri.training.config import TrainerConfig

Triple = tuple[float, float, float]
Shape = tuple[int, int, int]
MIN_GRID, MAX_GRID = 4, 512  # voxels per grid axis: below, no U-Net level fits; above, no GPU holds a batch
MAX_VOXEL_MM = 50.0
MAX_SEED = 2**32 - 1  # numpy's and torch's seed range


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Grid(Strict):
    """A model grid in MNI152 world coordinates: shape, voxel size and the world point at its centre."""

    shape: Shape
    voxel_mm: Triple
    center_mm: Triple = (0.0, -18.0, 8.0)

    @field_validator("shape")
    @classmethod
    def _shape_in_range(cls, v: Shape) -> Shape:
        if min(v) < MIN_GRID or max(v) > MAX_GRID:
            raise ValueError(f"every grid dimension must be in {MIN_GRID}..{MAX_GRID} voxels, got {list(v)}")
        return v

    @field_validator("voxel_mm")
    @classmethod
    def _voxels_in_range(cls, v: Triple) -> Triple:
        if min(v) <= 0 or max(v) > MAX_VOXEL_MM:
            raise ValueError(f"voxel sizes must be in (0, {MAX_VOXEL_MM:g}] mm, got {list(v)}")
        return v

    @property
    def affine(self) -> np.ndarray:
        """RAS+ affine whose voxel (shape-1)/2 lands on center_mm."""
        aff = np.diag([*self.voxel_mm, 1.0])
        half = (np.asarray(self.shape, float) - 1.0) / 2.0
        aff[:3, 3] = np.asarray(self.center_mm) - half * np.asarray(self.voxel_mm)
        return aff


class Grids(Strict):
    fmri: Grid
    dmri: Grid


class Maps(Strict):
    """Which map represents each modality and how it is computed (docs/maps.md)."""

    fmri_map: str = Field(FMRI_MAPS.default, description="a registered fMRI map (pds_mri.preprocess.maps)")
    dmri_map: str = Field(DMRI_MAPS.default, description="a registered dMRI map (pds_mri.preprocess.maps)")
    dummy_scans: int = Field(0, ge=0, description="non-steady-state BOLD volumes dropped at the start")
    alff_band_hz: tuple[float, float] = (0.01, 0.08)
    min_alff_volumes: int = Field(50, ge=8, description="shortest BOLD run accepted for ALFF/fALFF")
    b0_threshold: float = Field(50.0, ge=0, description="b <= this counts as b0 (dipy's default)")
    dti_max_b: float = Field(1500.0, gt=0, description="tensor fit uses shells with b <= this")
    norm_percentiles: tuple[float, float] = (0.5, 99.5)

    @field_validator("fmri_map")
    @classmethod
    def _registered_fmri_map(cls, v: str) -> str:
        return FMRI_MAPS.check(v)

    @field_validator("dmri_map")
    @classmethod
    def _registered_dmri_map(cls, v: str) -> str:
        return DMRI_MAPS.check(v)

    @field_validator("alff_band_hz")
    @classmethod
    def _band(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not 0 <= v[0] < v[1]:
            raise ValueError(f"needs 0 <= low < high (Hz), got {list(v)}")
        return v

    @field_validator("norm_percentiles")
    @classmethod
    def _percentiles(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not 0 <= v[0] < v[1] <= 100:
            raise ValueError(f"needs 0 <= low < high <= 100, got {list(v)}")
        return v


class Simulation(Strict):
    """Native acquisition of the simulated cohort (a test bed, not a claim about brains)."""

    bold_shape: Shape
    bold_voxel_mm: Triple
    bold_volumes: int = Field(ge=8, le=5000)
    repetition_time: float = Field(gt=0, le=20)
    dwi_shape: Shape
    dwi_voxel_mm: Triple
    dwi_directions: int = Field(ge=6, le=64, description="non-b0 directions taken from dipy's small_64D table")
    dwi_b0s: int = Field(1, ge=1, le=32)
    t1w_voxel_mm: float = Field(gt=0, le=MAX_VOXEL_MM)
    snr: float = Field(30.0, gt=0)

    @field_validator("bold_shape", "dwi_shape")
    @classmethod
    def _shape_in_range(cls, v: Shape) -> Shape:
        if min(v) < MIN_GRID or max(v) > MAX_GRID:
            raise ValueError(f"every dimension must be in {MIN_GRID}..{MAX_GRID} voxels, got {list(v)}")
        return v

    @field_validator("bold_voxel_mm", "dwi_voxel_mm")
    @classmethod
    def _voxels_in_range(cls, v: Triple) -> Triple:
        if min(v) <= 0 or max(v) > MAX_VOXEL_MM:
            raise ValueError(f"voxel sizes must be in (0, {MAX_VOXEL_MM:g}] mm, got {list(v)}")
        return v


class Training(Strict):
    """Stage 1 (the conditional diffusion) and stage 2 (the refiners) are trained one after the other."""

    stage1: TrainerConfig = TrainerConfig()
    stage2: TrainerConfig = TrainerConfig(steps=300, lr=1e-3, warmup_steps=20)
    val_fraction: float = Field(0.15, ge=0.0, lt=1.0, description="held-out share of the training subjects")
    max_val_subjects: int = Field(4, ge=1, description="validation synthesises at most this many subjects")


class Config(Strict):
    preset: PresetName = "cpu"
    grids: Grids
    maps: Maps = Maps()
    simulation: Simulation
    model: PDSConfig = PDSConfig()
    baselines: BaselineConfig = BaselineConfig()
    training: Training = Training()


_PRESETS: dict[str, dict] = {
    "cpu": {
        "grids": {
            "fmri": {"shape": (32, 32, 18), "voxel_mm": (6.8, 6.8, 9.0)},
            "dmri": {"shape": (48, 48, 30), "voxel_mm": (4.0, 4.8, 5.4)},
        },
        "simulation": {
            "bold_shape": (32, 38, 20),
            "bold_voxel_mm": (6.0, 6.0, 8.0),
            "bold_volumes": 120,
            "repetition_time": 2.0,
            "dwi_shape": (44, 52, 36),
            "dwi_voxel_mm": (4.0, 4.0, 4.5),
            "dwi_directions": 32,
            "dwi_b0s": 2,
            "t1w_voxel_mm": 4.0,
        },
        "model": {"base_channels": 16, "levels": 3, "attention": False, "pattern_hidden": 64},
        "training": {
            "stage1": {
                "steps": 400,
                "lr": 2e-3,
                "warmup_steps": 20,
                "ema_decay": 0.99,
                "validate_every": 200,
                "checkpoint_every": 200,
                "log_every": 10,
                "bf16": False,
            },
            "stage2": {
                "steps": 100,
                "lr": 2e-3,
                "warmup_steps": 10,
                "ema_decay": 0.99,
                "validate_every": 100,
                "checkpoint_every": 100,
                "log_every": 10,
                "bf16": False,
            },
        },
    },
    "paper": {
        "grids": {
            "fmri": {"shape": (64, 64, 36), "voxel_mm": (3.4, 3.4, 4.5)},
            "dmri": {"shape": (96, 96, 60), "voxel_mm": (2.0, 2.4, 2.7)},
        },
        "simulation": {
            "bold_shape": (64, 64, 36),
            "bold_voxel_mm": (3.0, 3.5, 4.5),
            "bold_volumes": 200,
            "repetition_time": 2.0,
            "dwi_shape": (96, 96, 60),
            "dwi_voxel_mm": (2.0, 2.4, 2.7),
            "dwi_directions": 64,
            "dwi_b0s": 1,
            "t1w_voxel_mm": 2.0,
        },
        "model": {"base_channels": 32, "levels": 4},
        "training": {
            "stage1": {
                "steps": 50000,
                "lr": 2e-4,
                "warmup_steps": 500,
                "ema_decay": 0.999,
                "validate_every": 2000,
                "checkpoint_every": 2000,
            },
            "stage2": {
                "steps": 5000,
                "lr": 5e-4,
                "warmup_steps": 100,
                "validate_every": 1000,
                "checkpoint_every": 1000,
            },
        },
    },
}


def preset(name: str) -> Config:
    if name not in _PRESETS:
        raise InputError(name, f"unknown preset; choose one of {sorted(_PRESETS)}")
    return Config(preset=name, **_PRESETS[name])


def load_config(path: Path, base: str | None = None) -> Config:
    """Load YAML (safe loader: no code execution), layered over a preset."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise InputError(path, "config file not found") from None
    except IsADirectoryError:
        raise InputError(path, "config is a directory, not a YAML file") from None
    except UnicodeDecodeError:
        raise InputError(path, "config is not a UTF-8 text file") from None
    except OSError as exc:
        raise InputError(path, f"config file unreadable ({exc.strerror or exc.__class__.__name__})") from None
    except yaml.YAMLError as exc:
        raise InputError(path, f"not valid YAML ({exc.__class__.__name__})") from None
    except RecursionError:
        raise InputError(path, "not valid YAML (nested too deeply)") from None
    if not isinstance(raw, dict):
        raise InputError(path, "config must be a YAML mapping")
    name = raw.get("preset", base or "cpu")
    if "preset" in raw and (not isinstance(name, str) or name not in _PRESETS):
        raise InputError(path, f"invalid config field 'preset': must be one of {sorted(_PRESETS)}")
    merged = _deep_merge(preset(name).model_dump(mode="json"), raw)
    try:
        return Config.model_validate(merged)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        raise InputError(path, f"invalid config field '{field}': {err['msg']}") from None


def load_own_config(path: Path, written_by: str) -> Config:
    """A config.yaml the tool wrote (prepared or run directory): complete by construction, so an empty
    file is damage, not "use the defaults" as it is for a user's own --config."""
    try:
        empty = not Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        empty = False  # load_config names the problem
    if empty:
        raise InputError(path, f"config.yaml is empty; it is written by `{written_by}`: run it again")
    return load_config(path)


def dump_config(config: Config) -> str:
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)


def _deep_merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        out[key] = _deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out
