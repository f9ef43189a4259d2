"""Every numeric config field has a range, and a value just outside it is a one-line error naming the field.

Walks the pydantic models under `Config` (so a new field is covered without a new test): each field bounded by
ge/gt/le/lt is set just past each bound in a YAML config; fields checked by validators (grids, voxel sizes,
percentile and frequency pairs, betas) have explicit cases. A numeric field without any range fails the walk
unless it is listed in UNBOUNDED with the reason.
"""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any

import annotated_types
import pytest
import yaml
from pydantic import BaseModel

from pds_mri.config import Config, load_config
from pds_mri.errors import PdsError

#: numeric fields whose whole range is valid, or whose range a validator checks (with a case in VALIDATED)
UNBOUNDED = {
    "grids.fmri.center_mm": "any world point",
    "grids.dmri.center_mm": "any world point",
    "training.stage1.betas": "validator: each in [0, 1)",
    "training.stage2.betas": "validator: each in [0, 1)",
    "maps.alff_band_hz": "validator: 0 <= low < high",
    "maps.norm_percentiles": "validator: 0 <= low < high <= 100",
    "model.tissue_weights": "any weights (0 switches a tissue off)",
    "baselines.disc_betas": "Adam betas of the discriminator",
    **{
        f"grids.{g}.{f}": "validator: 4..512 voxels / (0, 50] mm"
        for g in ("fmri", "dmri")
        for f in ("shape", "voxel_mm")
    },
    **{
        f"simulation.{f}": "validator: 4..512 voxels / (0, 50] mm"
        for f in ("bold_shape", "bold_voxel_mm", "dwi_shape", "dwi_voxel_mm")
    },
}
VALIDATED = [
    ({"grids": {"fmri": {"shape": [1, 1, 1]}}}, "grids.fmri.shape"),
    ({"grids": {"dmri": {"shape": [1000, 1000, 1000]}}}, "grids.dmri.shape"),
    ({"grids": {"fmri": {"voxel_mm": [0, 3, 3]}}}, "grids.fmri.voxel_mm"),
    ({"grids": {"fmri": {"voxel_mm": [3, 3, 300]}}}, "grids.fmri.voxel_mm"),
    ({"maps": {"norm_percentiles": [99.5, 0.5]}}, "maps.norm_percentiles"),
    ({"maps": {"norm_percentiles": [-1, 99]}}, "maps.norm_percentiles"),
    ({"maps": {"norm_percentiles": [1, 101]}}, "maps.norm_percentiles"),
    ({"maps": {"alff_band_hz": [0.08, 0.01]}}, "maps.alff_band_hz"),
    ({"training": {"stage1": {"betas": [0.9, 1.0]}}}, "training.stage1"),
    ({"training": {"stage1": {"seed": -1}}}, "training.stage1.seed"),
    ({"training": {"stage1": {"seed": 2**77}}}, "training.stage1.seed"),
    ({"model": {"levels": 9}}, "model.levels"),
    ({"simulation": {"bold_shape": [2, 2, 2]}}, "simulation.bold_shape"),
]


def _numeric(annotation: Any) -> bool:
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return any(_numeric(a) for a in args if a is not type(None))
    if typing.get_origin(annotation) is tuple:
        return any(_numeric(a) for a in args)
    return annotation in (int, float)


def _walk(model: type[BaseModel], prefix: str = "") -> list[tuple[str, Any]]:
    out = []
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        ann = info.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out += _walk(ann, f"{path}.")
        elif _numeric(ann):
            out.append((path, info))
    return out


def _bounds(info: Any) -> list[tuple[str, float]]:
    found = []
    for meta in info.metadata:
        for kind in ("ge", "gt", "le", "lt"):
            if isinstance(meta, getattr(annotated_types, kind.capitalize())):
                found.append((kind, float(getattr(meta, kind))))
    return found


def _nested(path: str, value: Any) -> dict[str, Any]:
    out: Any = value
    for key in reversed(path.split(".")):
        out = {key: out}
    return out


FIELDS = _walk(Config)
BOUNDED = [(path, kind, bound) for path, info in FIELDS for kind, bound in _bounds(info)]


def test_every_numeric_field_has_a_range_or_a_reason() -> None:
    missing = [path for path, info in FIELDS if not _bounds(info) and path not in UNBOUNDED]
    assert not missing, f"numeric config fields without a range: {missing}"
    assert len(BOUNDED) > 40  # the walk really finds the fields


def _outside(kind: str, bound: float, integer: bool) -> float:
    step = 1 if integer else max(abs(bound) * 1e-3, 1e-6)
    value = {"ge": bound - step, "gt": bound, "le": bound + step, "lt": bound}[kind]
    return int(value) if integer else value


@pytest.mark.parametrize(("path", "kind", "bound"), BOUNDED, ids=[f"{p}:{k}" for p, k, _ in BOUNDED])
def test_a_value_outside_the_range_is_a_one_line_error(tmp_path: Path, path: str, kind: str, bound: float) -> None:
    info = dict(FIELDS)[path]
    integer = int in (typing.get_args(info.annotation) or (info.annotation,))
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(_nested(path, _outside(kind, bound, integer))))
    with pytest.raises(PdsError) as err:
        load_config(config, "cpu")
    message = str(err.value)
    assert path.split(".")[-1] in message and "\n" not in message


@pytest.mark.parametrize(("edit", "field"), VALIDATED, ids=[f for _, f in VALIDATED])
def test_validated_fields_refuse_impossible_values(tmp_path: Path, edit: dict, field: str) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(edit))
    with pytest.raises(PdsError) as err:
        load_config(config, "cpu")
    assert field.split(".")[-1] in str(err.value) and "\n" not in str(err.value)
