"""read_gradients on dipy's real small_64D table and on broken .bval/.bvec files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from pds_mri.errors import InputError
from pds_mri.io.gradients import read_gradients

N = 13  # one b0 + 12 directions (kit.gradient_table_3xn)


def test_real_small_64d_table_in_n_by_3_layout_with_nan_b0_direction(kit: SimpleNamespace) -> None:
    _, bval, bvec = kit.SMALL_64D
    bvals, bvecs = read_gradients(bval, bvec, 65, 50.0)
    assert bvals.shape == (65,) and bvecs.shape == (65, 3)
    np.testing.assert_array_equal(bvecs[0], 0.0)  # dipy writes NaN for the b0 direction
    np.testing.assert_allclose(np.linalg.norm(bvecs[1:], axis=1), 1.0, atol=1e-9)


def test_bids_3_by_n_layout_matches_transposed(tmp_path: Path, kit: SimpleNamespace) -> None:
    bvals, bvecs = kit.gradient_table_3xn()
    rows = read_gradients(*kit.write_gradients(tmp_path, bvals, bvecs, "rows"), N, 50.0)
    cols = read_gradients(*kit.write_gradients(tmp_path, bvals, bvecs.T, "cols"), N, 50.0)
    np.testing.assert_allclose(rows[1], cols[1])
    np.testing.assert_allclose(rows[0], bvals)


@pytest.mark.parametrize("b0", [0.0, 5.0, 10.0, 50.0])
def test_scanner_b0_values_count_as_b0(tmp_path: Path, kit: SimpleNamespace, b0: float) -> None:
    bvals, bvecs = kit.gradient_table_3xn(b0=b0)
    bvecs[:, 0] = [1.0, 0.0, 0.0]  # scanners often give the b0 a direction too
    got, _ = read_gradients(*kit.write_gradients(tmp_path, bvals, bvecs), N, 50.0)
    assert got[0] == b0


def test_near_unit_vectors_are_renormalised(tmp_path: Path, kit: SimpleNamespace) -> None:
    bvals, bvecs = kit.gradient_table_3xn()
    bvecs[:, 1:] *= 1.03  # within the 0.05 tolerance (rounded text files)
    _, got = read_gradients(*kit.write_gradients(tmp_path, bvals, bvecs), N, 50.0)
    np.testing.assert_allclose(np.linalg.norm(got[1:], axis=1), 1.0, atol=1e-9)


def test_three_volumes_use_the_bids_row_layout(tmp_path: Path, kit: SimpleNamespace) -> None:
    bvecs = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]])  # rows = x, y, z
    _, got = read_gradients(*kit.write_gradients(tmp_path, np.array([0, 1000, 1000]), bvecs), 3, 50.0)
    np.testing.assert_allclose(got, bvecs.T)


Edit = Callable[[np.ndarray], np.ndarray]


def _set(index: int, value: float) -> Edit:
    def edit(a: np.ndarray) -> np.ndarray:
        a = a.copy()
        a[index] = value
        return a

    return edit


def _scale_vec(col: int, factor: float) -> Edit:
    def edit(v: np.ndarray) -> np.ndarray:
        v = v.copy()
        v[:, col] *= factor
        return v

    return edit


# (id, which file is blamed, bval text or edit, bvec text or edit, n_volumes, keywords)
CASES = [
    ("bval-non-numeric", "bval", "0 1000 abc", None, N, ("non-numeric", "'abc'")),
    ("bval-commas", "bval", "0,1000,1000", None, N, ("non-numeric",)),
    ("bval-ragged", "bval", "0 1000\n1000", None, N, ("ragged",)),
    ("bval-two-rows", "bval", "0 1000\n1000 1000", None, N, ("one row",)),
    ("bval-count-vs-dwi", "bval", None, None, 20, ("20 volumes",)),
    ("bval-negative", "bval", _set(3, -1000.0), None, N, ("negative",)),
    ("bval-nan", "bval", _set(3, np.nan), None, N, ("NaN",)),
    ("no-b0", "bval", _set(0, 1000.0), None, N, ("no b0", "smallest b-value is 1000")),
    ("b0-just-above-threshold", "bval", _set(0, 60.0), None, N, ("no b0",)),
    ("no-dw-volume", "bval", lambda b: np.minimum(b, 5.0), None, N, ("no diffusion-weighted",)),
    ("bvec-count-mismatch", "bvec", None, lambda v: v[:, :-1], N, ("3 rows", "3x12")),
    ("bvec-two-rows", "bvec", None, lambda v: v[:2], N, ("3 rows",)),
    ("bvec-non-unit", "bvec", None, _scale_vec(4, 0.5), N, ("not unit length", "volume 4")),
    ("bvec-zero-for-dw", "bvec", None, _scale_vec(2, 0.0), N, ("not unit length",)),
    ("bvec-nan-for-dw", "bvec", None, _scale_vec(2, np.nan), N, ("NaN",)),
    ("bvec-non-numeric", "bvec", None, "x y z", N, ("non-numeric",)),
]


@pytest.mark.parametrize(
    ("blamed", "bval_edit", "bvec_edit", "n_volumes", "keywords"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_gradients_are_one_line_errors(
    tmp_path: Path,
    kit: SimpleNamespace,
    blamed: str,
    bval_edit: object,
    bvec_edit: object,
    n_volumes: int,
    keywords: tuple[str, ...],
) -> None:
    bvals, bvecs = kit.gradient_table_3xn()
    bval, bvec = kit.write_gradients(
        tmp_path,
        bval_edit(bvals) if callable(bval_edit) else bvals,
        bvec_edit(bvecs) if callable(bvec_edit) else bvecs,
    )
    for path, edit in ((bval, bval_edit), (bvec, bvec_edit)):
        if isinstance(edit, str):
            path.write_text(edit + "\n")
    with pytest.raises(InputError) as info:
        read_gradients(bval, bvec, n_volumes, 50.0)
    kit.assert_one_line_error(info.value, bval if blamed == "bval" else bvec, *keywords)


@pytest.mark.parametrize("which", ["bval", "bvec"])
@pytest.mark.parametrize(("state", "keyword"), [("missing", "not found"), ("empty", "empty")])
def test_missing_or_empty_files(tmp_path: Path, kit: SimpleNamespace, which: str, state: str, keyword: str) -> None:
    paths = dict(zip(("bval", "bvec"), kit.write_gradients(tmp_path, *kit.gradient_table_3xn()), strict=True))
    if state == "missing":
        paths[which].unlink()
    else:
        paths[which].write_bytes(b"")
    with pytest.raises(InputError) as info:
        read_gradients(paths["bval"], paths["bvec"], N, 50.0)
    kit.assert_one_line_error(info.value, paths[which], keyword)


def test_unknown_volume_count_skips_only_the_count_check(tmp_path: Path, kit: SimpleNamespace) -> None:
    bvals, _ = read_gradients(*kit.write_gradients(tmp_path, *kit.gradient_table_3xn()), None, 50.0)
    assert bvals.size == N
