"""Training and inference items read from a prepared directory (`pds prepare`'s layout).

Every item is expressed on the TARGET modality's model grid, because that is where the denoiser works:
the source map is resampled (both grids live in MNI world space) onto the target grid and stacked with
the noisy target. One training item holds both directions of one subject, so that one model learns
fMRI→dMRI and dMRI→fMRI jointly.

Batch convention (per direction, after `collate`):
  source (B,1,X,Y,Z) float in [-1, 1]   target (B,1,X,Y,Z)   mask (B,1,X,Y,Z) float
  tissue (B,3,X,Y,Z)                    pattern (B,X,Y,Z) long ROI labels 0..160
  direction (B,) long 0=fmri2dmri 1=dmri2fmri   diagnosis (B,) long 0 NC, 1 MCI, 2 AD, -1 unknown
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import torch
from torch.utils.data import Dataset

from pds_mri.domain import DIRECTIONS, Modality
from pds_mri.errors import InputError, PdsError
from pds_mri.io.layout import (
    COHORT_COLUMNS,
    COHORT_TSV,
    SESSION_COLUMN,
    check_participant_id,
    check_session_id,
    find_pattern_atlas,
    inside,
    key_of,
    session_of,
)
from pds_mri.io.nifti import load_nifti
from pds_mri.io.tables import read_index

DIRECTION_CODES: dict[str, int] = {"fmri2dmri": 0, "dmri2fmri": 1}
DIAGNOSIS_CODES: dict[str, int] = {"NC": 0, "MCI": 1, "AD": 2}
UNKNOWN_DIAGNOSIS = -1
# Columns the loaders need; the remaining COHORT_COLUMNS are descriptive.
REQUIRED_COLUMNS: tuple[str, ...] = (
    "participant_id",
    "diagnosis",
    "fmri",
    "dmri",
    "fmri_mask",
    "dmri_mask",
    "fmri_tissue",
    "dmri_tissue",
)
_MISSING = {"", "n/a", "na", "nan", "none"}

Row = dict[str, str | None]
Item = dict[str, torch.Tensor]


def direction_modalities(direction: str) -> tuple[Modality, Modality]:
    """(source, target) modalities of a direction name."""
    if direction == "fmri2dmri":
        return "fmri", "dmri"
    if direction == "dmri2fmri":
        return "dmri", "fmri"
    raise PdsError(f"unknown direction '{direction}'; choose one of {list(DIRECTIONS)}")


def diagnosis_code(value: str | None) -> int:
    """NC/MCI/AD → 0/1/2 (case-insensitive); anything else, including missing, → -1 (unknown)."""
    if value is None:
        return UNKNOWN_DIAGNOSIS
    return DIAGNOSIS_CODES.get(value.strip().upper(), UNKNOWN_DIAGNOSIS)


def read_cohort(prepared_dir: str | os.PathLike[str]) -> list[Row]:
    """Rows of `cohort.tsv`; empty and 'n/a' cells become None so that 'absent' has one spelling.

    A row is a (participant, session): `session_id` may be absent (a dataset without sessions, or an index
    written before sessions were read); each (participant, session) is listed once."""
    path = Path(prepared_dir) / COHORT_TSV
    if not path.is_file():
        raise InputError(path, "cohort.tsv not found; is this a directory written by `pds prepare`?")
    raw_rows = read_index(path, REQUIRED_COLUMNS, f"expected the columns {list(COHORT_COLUMNS)} of `pds prepare`")
    rows: list[Row] = []
    seen: set[str] = set()
    for line, raw in enumerate(raw_rows, start=2):
        row: Row = {k: _clean(v) for k, v in raw.items()}
        pid = row.get("participant_id")
        if not pid:
            raise InputError(path, f"line {line}: empty participant_id")
        check_participant_id(pid, path, line)
        ses = session_of(row)
        if ses is not None:
            row[SESSION_COLUMN] = check_session_id(ses, path, line)
        key = key_of(row)
        if key in seen:
            what = f"participant_id '{pid}'" if ses is None else f"participant_id '{pid}' with session_id '{ses}'"
            raise InputError(path, f"line {line}: duplicate {what}")
        seen.add(key)
        rows.append(row)
    return rows


def has_modality(row: Mapping[str, Any], modality: Modality) -> bool:
    return bool(row.get(modality))


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return None if value.lower() in _MISSING else value


def resolve_cell(prepared_dir: Path, row: Mapping[str, Any], column: str) -> Path:
    """The file a cohort.tsv cell names, inside the prepared directory; a missing column or empty cell is an error."""
    rel = row.get(column)
    if not rel:
        state = "is empty" if column in row else "is missing"
        raise InputError(prepared_dir / COHORT_TSV, f"{_name(row)}: column '{column}' {state}")
    return inside(prepared_dir, str(rel), prepared_dir / COHORT_TSV)


def _name(row: Mapping[str, Any]) -> str:
    return key_of(row) if row.get("participant_id") else "?"


def check_item_files(prepared_dir: Path, row: Mapping[str, Any], direction: str, native: bool = False) -> None:
    """Every file `load_direction_item` (and, with `native`, a native-space synthesis) reads for this row:
    NIfTI headers and normalisation sidecars only, so a whole cohort is checked in well under a second per
    subject, before a command creates its output."""
    from pds_mri.io.nifti import check_nifti_header
    from pds_mri.preprocess.normalise import read_sidecar_normalisation

    prepared_dir = Path(prepared_dir)
    source, target = direction_modalities(direction)
    columns: list[tuple[str, int | tuple[int, ...]]] = [(source, 3), (f"{target}_mask", 3), (f"{target}_tissue", 4)]
    if native:
        columns.append((f"{source}_native", 3))
    for column, ndim in columns:
        check_nifti_header(resolve_cell(prepared_dir, row, column), ndim, f"prepared {column.replace('_', ' ')}")
    if row.get(target):
        path = resolve_cell(prepared_dir, row, target)
        check_nifti_header(path, 3, f"prepared {target} map")
        read_sidecar_normalisation(path.with_name(path.name.replace(".nii.gz", ".json")))


def _load_image(path: Path) -> tuple[nib.Nifti1Image, np.ndarray]:
    """Load and force the full read, so truncation or bad bytes fail here with the file's name."""
    if not path.is_file():
        raise InputError(path, "file not found")
    try:
        img = load_nifti(str(path))
        data = np.asarray(img.dataobj, dtype=np.float32)
    except Exception as exc:  # nibabel raises many types for corrupt files
        raise InputError(path, f"cannot read NIfTI ({exc.__class__.__name__}: {exc})") from None
    if not np.isfinite(data).all():
        raise InputError(path, "contains NaN or Inf values")
    return img, data


def _expect_shape(path: Path, data: np.ndarray, shape: tuple[int, ...]) -> None:
    if tuple(data.shape) != tuple(shape):
        raise InputError(path, f"shape {tuple(data.shape)} does not match the model grid {tuple(shape)}")


def resample_to(img: nib.Nifti1Image, reference: nib.Nifti1Image) -> np.ndarray:
    """Resample `img` onto `reference`'s grid by world coordinates (trilinear, outside → -1).

    Linear rather than spline: spline overshoots at the brain edge and would leave [-1, 1]. nilearn's
    own clip is off because it clips to the data's range, which would turn the -1 fill into the data
    minimum; the result is clipped to [-1, 1] instead. Within one source voxel of the field of view the
    value blends from the edge towards -1.
    """
    from nilearn.image import resample_img

    out = resample_img(
        img,
        target_affine=reference.affine,
        target_shape=reference.shape[:3],
        interpolation="linear",
        fill_value=-1.0,
        clip=False,
        force_resample=True,
        copy_header=True,
    )
    return np.clip(np.asarray(out.dataobj, dtype=np.float32), -1.0, 1.0)


class AtlasCache:
    """Pattern atlases are the same for every subject: read each grid's labels once and share them.

    Pass one instance to every `load_direction_item` call of a cohort (as PreparedCohort does).
    """

    def __init__(self, prepared_dir: Path) -> None:
        self.prepared_dir = prepared_dir
        self._labels: dict[str, torch.Tensor] = {}

    def labels(self, modality: Modality) -> torch.Tensor:
        if modality not in self._labels:
            path = find_pattern_atlas(self.prepared_dir, modality)
            _, data = _load_image(path)
            if data.ndim != 3:
                raise InputError(path, f"expected a 3D label image, got {data.ndim}D")
            labels = np.rint(data)
            if labels.min() < 0 or labels.max() > 160:
                raise InputError(path, "ROI labels must be in 0..160")
            self._labels[modality] = torch.from_numpy(labels.astype(np.int64))
        return self._labels[modality]


def load_direction_item(
    prepared_dir: str | os.PathLike[str],
    row: Mapping[str, Any],
    direction: str,
    *,
    atlas: AtlasCache | None = None,
) -> Item:
    """One direction of one subject on the target grid; 'target' is present only if the subject has it.

    Works at inference for a subject that has only the source modality: the target grid's mask and
    tissue come from the cohort row (`pds prepare` writes them for both grids from priors when needed).
    """
    prepared_dir = Path(prepared_dir)
    src_mod, tgt_mod = direction_modalities(direction)
    atlas = atlas or AtlasCache(prepared_dir)
    pid = _name(row)
    if not has_modality(row, src_mod):
        raise InputError(prepared_dir / COHORT_TSV, f"{pid}: no {src_mod} map, cannot run {direction}")

    mask_path = resolve_cell(prepared_dir, row, f"{tgt_mod}_mask")
    reference, mask = _load_image(mask_path)
    shape = tuple(mask.shape)
    if mask.ndim != 3:
        raise InputError(mask_path, f"expected a 3D mask, got {mask.ndim}D")

    src_path = resolve_cell(prepared_dir, row, src_mod)
    src_img, _ = _load_image(src_path)
    source = resample_to(src_img, reference)

    tissue_path = resolve_cell(prepared_dir, row, f"{tgt_mod}_tissue")
    _, tissue = _load_image(tissue_path)
    if tissue.ndim != 4 or tissue.shape[3] != 3:
        raise InputError(tissue_path, f"expected 4D tissue maps (X,Y,Z,3), got shape {tissue.shape}")
    _expect_shape(tissue_path, tissue[..., 0], shape)

    pattern = atlas.labels(tgt_mod)
    _expect_shape(find_pattern_atlas(prepared_dir, tgt_mod), pattern.numpy(), shape)

    item: Item = {
        "source": torch.from_numpy(source)[None],
        "mask": torch.from_numpy((mask > 0.5).astype(np.float32))[None],
        "tissue": torch.from_numpy(np.ascontiguousarray(np.moveaxis(tissue, 3, 0))),
        "pattern": pattern,
        "direction": torch.tensor(DIRECTION_CODES[direction], dtype=torch.long),
        "diagnosis": torch.tensor(diagnosis_code(row.get("diagnosis")), dtype=torch.long),
    }
    if has_modality(row, tgt_mod):
        tgt_path = resolve_cell(prepared_dir, row, tgt_mod)
        _, target = _load_image(tgt_path)
        _expect_shape(tgt_path, target, shape)
        item["target"] = torch.from_numpy(target)[None]
    return item


class PreparedCohort(Dataset):
    """Rows with BOTH modalities (the only ones that can supervise training), both directions each.

    `row_ids` selects rows by `layout.row_key` (``sub-X``, or ``sub-X_ses-Y`` for a session row): the ids
    split.json lists.

    Items are cached in memory after their first load: reading and resampling NIfTI dominates a tiny
    training step, and a cohort of maps on the model grids fits in memory.
    """

    def __init__(
        self,
        prepared_dir: str | os.PathLike[str],
        row_ids: Sequence[str] | None = None,
        *,
        cache: bool = True,
    ) -> None:
        self.prepared_dir = Path(prepared_dir)
        rows = [r for r in read_cohort(self.prepared_dir) if has_modality(r, "fmri") and has_modality(r, "dmri")]
        if row_ids is not None:
            by_id = {key_of(r): r for r in rows}
            unknown = [p for p in row_ids if p not in by_id]
            if unknown:
                raise PdsError(f"subject(s) {unknown} are not in {self.prepared_dir / COHORT_TSV} with both modalities")
            rows = [by_id[p] for p in row_ids]
        if not rows:
            raise PdsError(f"no subject in {self.prepared_dir / COHORT_TSV} has both fMRI and dMRI maps")
        self.rows = rows
        self.cache = cache  # per process: with DataLoader workers each worker holds its own cache
        self._atlas = AtlasCache(self.prepared_dir)
        self._items: dict[int, dict[str, Any]] = {}

    @property
    def participant_ids(self) -> list[str]:
        """The participant of each row (repeated for a subject's sessions): the groups a split keeps together."""
        return [str(r["participant_id"]) for r in self.rows]

    @property
    def row_ids(self) -> list[str]:
        """Each row's id (`layout.row_key`): the participant id, or participant_session."""
        return [key_of(r) for r in self.rows]

    @property
    def diagnoses(self) -> list[int]:
        return [diagnosis_code(r.get("diagnosis")) for r in self.rows]

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if index in self._items:
            return self._items[index]
        row = self.rows[index]
        item: dict[str, Any] = {
            d: load_direction_item(self.prepared_dir, row, d, atlas=self._atlas) for d in DIRECTIONS
        }
        item["participant_id"] = key_of(row)  # the row id: a session row is its own item
        if self.cache:
            self._items[index] = item
        return item


def collate_direction(items: Sequence[Mapping[str, torch.Tensor]]) -> Item:
    """Stack one direction's tensors; every item must carry the same keys (e.g. all or none 'target')."""
    keys = set(items[0])
    for it in items[1:]:
        if set(it) != keys:
            raise PdsError(f"cannot batch items with different keys: {sorted(keys)} vs {sorted(it)}")
    return {k: torch.stack([it[k] for it in items]) for k in items[0]}


def collate(items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Batch training items: stack each direction's tensors, list the participant ids."""
    if not items:
        raise PdsError("cannot batch an empty list of items")
    out: dict[str, Any] = {}
    for key in items[0]:
        values = [it[key] for it in items]
        if isinstance(values[0], Mapping):
            out[key] = collate_direction(values)
        elif isinstance(values[0], torch.Tensor):
            out[key] = torch.stack(values)
        else:
            out[key] = list(values)
    return out


def check_prepared_files(prepared_dir: Path, rows: list[Row]) -> None:
    """Every file training reads — each subject's maps, masks, tissue and sidecars, the atlas images and
    the pattern table — checked before RUN_DIR is created, so a damaged prepared directory creates nothing."""
    from pds_mri.domain import MODALITIES
    from pds_mri.io.pattern_table import roi_networks

    for row in rows:
        for direction in DIRECTIONS:
            check_item_files(prepared_dir, row, direction)
    atlas = AtlasCache(prepared_dir)
    for modality in MODALITIES:
        atlas.labels(modality)
    roi_networks(prepared_dir)
