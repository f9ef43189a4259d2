"""dMRI `fa` and `md`: fractional anisotropy and mean diffusivity of a dipy tensor fit."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import numpy as np

from pds_mri.errors import InputError
from pds_mri.preprocess.maps.base import DMRI_MAPS, DwiMap, GradientTable

if TYPE_CHECKING:
    from pds_mri.config import Maps

MIN_TENSOR_DIRECTIONS = 6  # a diffusion tensor has 6 unknowns


def _as_n_by_3(bvecs: np.ndarray, n: int) -> np.ndarray:
    """FSL writes bvecs as 3 x N; accept either orientation."""
    bvecs = np.asarray(bvecs, dtype=float)
    if bvecs.shape == (3, n) and n != 3:
        bvecs = bvecs.T
    if bvecs.shape != (n, 3):
        raise ValueError(f"bvecs shape {bvecs.shape} does not match {n} volumes")
    return bvecs


def tensor_design_rank(bvals: np.ndarray, bvecs: np.ndarray) -> int:
    """Rank of the 6-column tensor design for the given directions: 6 means the tensor is determined."""
    g = bvecs
    design = (
        np.stack(
            [g[:, 0] ** 2, g[:, 1] ** 2, g[:, 2] ** 2, g[:, 0] * g[:, 1], g[:, 0] * g[:, 2], g[:, 1] * g[:, 2]],
            axis=1,
        )
        * bvals[:, None]
    )
    return int(np.linalg.matrix_rank(design)) if design.shape[0] else 0


def tensor_maps(
    data: np.ndarray,
    bvals: np.ndarray,
    bvecs: np.ndarray,
    b0_threshold: float,
    max_b: float,
    mask: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """FA and MD (float32, NaN-free) from dipy's default (WLS) tensor fit of the b0s + shells with b <= max_b.

    Higher shells are left out because the tensor model is only valid at low b (~<= 1500 s/mm²).
    """
    from dipy.core.gradients import gradient_table
    from dipy.reconst.dti import TensorModel

    bvals = np.asarray(bvals, dtype=float)
    bvecs = _as_n_by_3(bvecs, bvals.size)
    if data.ndim != 4 or data.shape[3] != bvals.size:
        raise ValueError(f"DWI shape {data.shape} does not match {bvals.size} b-values")
    keep = bvals <= max_b
    n_b0 = int((bvals[keep] <= b0_threshold).sum())
    n_dw = int(keep.sum()) - n_b0
    if n_b0 < 1 or n_dw < 6:
        raise ValueError(f"tensor fit needs >= 1 b0 and >= 6 volumes with b <= {max_b}; got {n_b0}, {n_dw}")
    gtab = gradient_table(bvals[keep], bvecs=bvecs[keep], b0_threshold=b0_threshold)
    fit = TensorModel(gtab).fit(data[..., keep], mask=mask)
    fa = np.nan_to_num(fit.fa, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)
    md = np.nan_to_num(fit.md, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)
    return fa, md


class _Tensor(DwiMap):
    """FA and MD come from one tensor fit: they share its needs and its settings."""

    label: ClassVar[str]
    output: ClassVar[int]  # 0: FA, 1: MD (tensor_maps' outputs)
    settings = ("dti_max_b", "b0_threshold")

    def check(self, table: GradientTable, maps: Maps) -> list[InputError]:
        problems = super().check(table, maps)
        bvals = np.asarray(table.bvals, dtype=float)
        bvecs = _as_n_by_3(table.bvecs, bvals.size)
        shell = (bvals > maps.b0_threshold) & (bvals <= maps.dti_max_b)
        if tensor_design_rank(bvals[shell], bvecs[shell]) < MIN_TENSOR_DIRECTIONS:
            problems.append(
                InputError(
                    table.bvec,
                    f"{self.label} needs >= {MIN_TENSOR_DIRECTIONS} non-collinear directions with "
                    f"{maps.b0_threshold:g} < b <= {maps.dti_max_b:g}; found {int(shell.sum())} volume(s)",
                )
            )
        return problems

    def compute(self, dwi: np.ndarray, bvals: np.ndarray, bvecs: np.ndarray, maps: Maps) -> np.ndarray:
        """Fitted only where the mean b0 is positive: background voxels carry no tensor, and skipping them
        makes the fit several times faster."""
        bvals = np.asarray(bvals, dtype=float)
        b0 = bvals <= maps.b0_threshold
        mask = dwi[..., b0].mean(axis=3) > 0 if b0.any() else None  # no b0: tensor_maps says so
        return tensor_maps(dwi, bvals, bvecs, maps.b0_threshold, maps.dti_max_b, mask=mask)[self.output]


@DMRI_MAPS.register("fa", help="fractional anisotropy of a dipy tensor fit, b <= maps.dti_max_b")
class FractionalAnisotropy(_Tensor):
    label, output = "FA", 0


@DMRI_MAPS.register("md", help="mean diffusivity of that fit")
class MeanDiffusivity(_Tensor):
    label, output = "MD", 1
