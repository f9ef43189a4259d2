"""Fuzzing the text readers: bval/bvec, BIDS sidecars, participants.tsv, CSV manifests, cohort.tsv, configs.

Property: each input either loads into well-formed values or raises the tool's own one-line error naming
the file; never another exception or a hang.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pds_mri.config import Config, load_config
from pds_mri.domain import DIAGNOSES
from pds_mri.errors import InputError, PdsError
from pds_mri.io.bids import _read_participants, read_manifest
from pds_mri.io.gradients import UNIT_NORM_TOLERANCE, read_gradients
from pds_mri.io.sidecar import MAX_TR_S, read_repetition_time
from pds_mri.training.data import read_cohort

from ._helpers import assert_one_line_error, no_hang

FUZZ = settings(
    max_examples=int(os.environ.get("PDS_FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

NUMBER_TOKENS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**400), 10**400).map(str),
    st.sampled_from(["0", "5", "1000", "2000", "-0", "1e400", "nan", "inf", "1_000", "0x10", "1,0", "", "b=0", "Ⅷ"]),
)


def _table_text(draw_rows: list[list[str]], sep: str, newline: str) -> str:
    return newline.join(sep.join(r) for r in draw_rows) + newline


tables = st.builds(
    _table_text,
    st.lists(st.lists(NUMBER_TOKENS, min_size=0, max_size=12), min_size=0, max_size=5),
    st.sampled_from([" ", "\t", "  ", ","]),
    st.sampled_from(["\n", "\r\n", "\r"]),
)


def _unit_table(n: int, seed: int, layout: str, norm: float) -> str:
    rng = np.random.default_rng(seed)
    v = rng.standard_normal((n, 3))
    v = v / np.linalg.norm(v, axis=1, keepdims=True) * norm
    table = v.T if layout == "3xN" else v
    return "\n".join(" ".join(f"{x:.6f}" for x in row) for row in table) + "\n"


@FUZZ
@given(
    bval_text=st.one_of(tables, st.binary(max_size=64).map(lambda b: b.decode("latin-1"))),
    bvec_text=tables,
    n_volumes=st.one_of(st.none(), st.integers(0, 12)),
    threshold=st.sampled_from([0.0, 50.0, 1e9]),
)
def test_gradient_tables_from_random_text(tmp_path: Path, bval_text, bvec_text, n_volumes, threshold) -> None:
    bval, bvec = tmp_path / "dwi.bval", tmp_path / "dwi.bvec"
    bval.write_text(bval_text, encoding="utf-8", errors="surrogateescape")
    bvec.write_text(bvec_text, encoding="utf-8")
    _check_gradients(bval, bvec, n_volumes, threshold)


@FUZZ
@given(
    n=st.integers(2, 40),
    n_b0=st.integers(0, 3),
    b=st.sampled_from([0.0, 5.0, 50.0, 51.0, 1000.0, 3000.0, -5.0, 1e30]),
    layout=st.sampled_from(["3xN", "Nx3"]),
    norm=st.sampled_from([1.0, 0.96, 1.04, 0.5, 0.0, 2.0]),
    count_delta=st.sampled_from([0, 0, 0, -1, 1]),
    seed=st.integers(0, 1000),
)
def test_gradient_tables_near_valid(tmp_path: Path, n, n_b0, b, layout, norm, count_delta, seed) -> None:
    """Wrong counts, orientation and vector norms around a real table."""
    bvals = [0.0] * n_b0 + [b] * n
    bval, bvec = tmp_path / "dwi.bval", tmp_path / "dwi.bvec"
    bval.write_text(" ".join(f"{x:g}" for x in bvals) + "\n")
    bvec.write_text(_unit_table(len(bvals) + count_delta, seed, layout, norm))
    _check_gradients(bval, bvec, len(bvals), 50.0)


def _check_gradients(bval: Path, bvec: Path, n_volumes: int | None, threshold: float) -> None:
    with no_hang(10):
        try:
            bvals, bvecs = read_gradients(bval, bvec, n_volumes, threshold)
        except InputError as exc:
            assert_one_line_error(exc)
            assert str(bval) in str(exc) or str(bvec) in str(exc)
            return
        except Exception as exc:
            pytest.fail(f"{type(exc).__name__} escaped read_gradients: {exc}")
    assert bvals.ndim == 1 and bvecs.shape == (bvals.size, 3)
    if n_volumes is not None:
        assert bvals.size == n_volumes
    assert np.isfinite(bvals).all() and (bvals >= 0).all() and np.isfinite(bvecs).all()
    weighted = bvals > threshold
    assert weighted.any() and (~weighted).any()
    norms = np.linalg.norm(bvecs[weighted], axis=1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-6)
    assert UNIT_NORM_TOLERANCE < 1


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**30), 10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@FUZZ
@given(
    tr=json_values,
    extra=st.dictionaries(st.text(max_size=10), json_values, max_size=3),
    shape=st.sampled_from(["object", "no-tr", "top-level-value", "bytes", "deep", "bom", "truncated"]),
    raw=st.binary(max_size=40),
)
def test_sidecars(tmp_path: Path, tr, extra, shape, raw) -> None:
    path = tmp_path / "sub-01_task-rest_bold.json"
    obj = {**extra, "RepetitionTime": tr}
    if shape == "object":
        path.write_text(json.dumps(obj))
    elif shape == "no-tr":
        path.write_text(json.dumps(extra))
    elif shape == "top-level-value":
        path.write_text(json.dumps(tr))
    elif shape == "bytes":
        path.write_bytes(raw)
    elif shape == "deep":
        path.write_text("[" * 50_000 + "]" * 50_000)
    elif shape == "bom":
        path.write_bytes(b"\xef\xbb\xbf" + json.dumps(obj).encode())
    else:
        text = json.dumps(obj)
        path.write_text(text[: len(text) // 2])
    with no_hang(10):
        try:
            value = read_repetition_time(path, tmp_path / "bold.nii.gz")
        except InputError as exc:
            assert_one_line_error(exc, path)
            return
        except Exception as exc:
            pytest.fail(f"{type(exc).__name__} escaped read_repetition_time: {exc}")
    assert isinstance(value, float) and math.isfinite(value) and 0 < value <= MAX_TR_S


def test_sidecar_that_is_a_directory_or_missing(tmp_path: Path) -> None:
    (tmp_path / "dir.json").mkdir()
    for path in (tmp_path / "dir.json", tmp_path / "missing.json"):
        with pytest.raises(InputError) as info:
            read_repetition_time(path, tmp_path / "bold.nii.gz")
        assert_one_line_error(info.value, path)


cells = st.one_of(
    st.sampled_from(["", "n/a", "NA", "nan", "NC", "cn", " AD ", "mci", "Dementia", "sick", "01", "sub-01", "sub-02"]),
    st.text(max_size=6),
    st.sampled_from(['"', '"unclosed', "a\tb", "../x", "/abs", "sub-../../etc", "x" * 200_000, "\x00"]),
)


def _tsv_text(rows: list[list[str]], sep: str) -> str:
    return "\n".join(sep.join(r) for r in rows) + "\n"


@FUZZ
@given(
    header=st.lists(st.sampled_from(["participant_id", "diagnosis", "age", "sex", "group", ""]), max_size=5),
    rows=st.lists(st.lists(cells, max_size=6), max_size=5),
    raw=st.one_of(st.none(), st.binary(max_size=30)),
)
def test_participants_tsv(tmp_path: Path, header, rows, raw) -> None:
    path = tmp_path / "participants.tsv"
    if raw is not None:
        path.write_bytes(raw)
    else:
        path.write_text(_tsv_text([header, *rows], "\t"), encoding="utf-8", errors="surrogatepass")
    with no_hang(10):
        try:
            out = _read_participants(tmp_path, "diagnosis")
        except InputError as exc:
            assert_one_line_error(exc, path)
            return
        except Exception as exc:
            pytest.fail(f"{type(exc).__name__} escaped participants.tsv reading: {exc}")
    assert all(pid.startswith("sub-") for pid in out)
    assert all(meta["diagnosis"] in (None, *DIAGNOSES) for meta in out.values())


MANIFEST_COLUMNS = ["subject", "fmri", "dmri", "bval", "bvec", "diagnosis", "tr", "t1w", "age", "sex"]


@FUZZ
@given(
    header=st.one_of(
        st.just(MANIFEST_COLUMNS[:6]),
        st.permutations(MANIFEST_COLUMNS),
        st.lists(st.sampled_from([*MANIFEST_COLUMNS, "x", ""]), max_size=8),
    ),
    rows=st.lists(st.lists(cells | st.sampled_from(["2.0", "1e400", "-1", "a/bold.nii.gz"]), max_size=11), max_size=5),
    suffix=st.sampled_from([".csv", ".tsv"]),
)
def test_csv_manifests(tmp_path: Path, header, rows, suffix) -> None:
    path = tmp_path / f"manifest{suffix}"
    path.write_text(_tsv_text([header, *rows], "\t" if suffix == ".tsv" else ","), errors="surrogatepass")
    with no_hang(10):
        try:
            subjects = read_manifest(path)
        except InputError as exc:
            assert_one_line_error(exc, path)
            return
        except Exception as exc:
            pytest.fail(f"{type(exc).__name__} escaped read_manifest: {exc}")
    ids = [s.participant_id for s in subjects]
    assert len(ids) == len(set(ids))
    for s in subjects:
        # Participant ids become output folder names: they must stay one plain path component.
        assert "/" not in s.participant_id and "\\" not in s.participant_id and ".." not in s.participant_id
        assert s.participant_id.startswith("sub-") and s.diagnosis in (None, *DIAGNOSES)


@pytest.mark.parametrize("subject", ["../../../tmp/evil", "a/b", "..", "x\\..\\y", "", "a\x00b", " "])
def test_manifest_subject_cannot_name_a_path_outside_the_output(tmp_path: Path, subject: str) -> None:
    path = tmp_path / "m.csv"
    path.write_text(f"subject,fmri,dmri,bval,bvec,diagnosis\n{subject},a.nii.gz,,,,NC\n")
    with pytest.raises(InputError) as info:
        read_manifest(path)
    assert_one_line_error(info.value, path)


@FUZZ
@given(
    rows=st.lists(st.lists(cells, min_size=0, max_size=14), max_size=4),
    drop=st.lists(st.sampled_from(["participant_id", "fmri", "dmri", "fmri_mask"]), max_size=2),
    raw=st.one_of(st.none(), st.binary(max_size=30)),
)
def test_cohort_tsv(tmp_path: Path, rows, drop, raw) -> None:
    from pds_mri.io.layout import COHORT_COLUMNS

    path = tmp_path / "cohort.tsv"
    if raw is not None:
        path.write_bytes(raw)
    else:
        header = [c for c in COHORT_COLUMNS if c not in drop]
        path.write_text(_tsv_text([header, *rows], "\t"), errors="surrogatepass")
    with no_hang(10):
        try:
            read_cohort(tmp_path)
        except InputError as exc:
            assert_one_line_error(exc, path)
        except Exception as exc:
            pytest.fail(f"{type(exc).__name__} escaped read_cohort: {exc}")


config_values = st.one_of(
    json_scalars, st.lists(st.integers(-3, 100), max_size=4), st.dictionaries(st.text(max_size=4), json_scalars)
)
CONFIG_KEYS = [
    ("preset",),
    ("grids", "fmri", "shape"),
    ("grids", "dmri", "voxel_mm"),
    ("maps", "fmri_map"),
    ("maps", "b0_threshold"),
    ("model", "base_channels"),
    ("model", "diffusion", "steps"),
    ("training", "stage1", "lr"),
    ("training", "stage1", "steps"),
    ("training", "val_fraction"),
    ("nonsense",),
]


@FUZZ
@given(
    edits=st.lists(st.tuples(st.sampled_from(CONFIG_KEYS), config_values), max_size=4),
    tail=st.sampled_from(["", "\n!!python/object/apply:os.system ['true']", "\n\t- broken: [", "\n&a x: *b"]),
)
def test_yaml_configs(tmp_path: Path, edits, tail) -> None:
    import yaml

    doc: dict = {}
    for keys, value in edits:
        node = doc
        for k in keys[:-1]:
            node = node.setdefault(k, {}) if isinstance(node.get(k, {}), dict) else {}
        node[keys[-1]] = value
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True) + tail)
    with no_hang(10):
        try:
            config = load_config(path)
        except InputError as exc:
            assert_one_line_error(exc, path)
            return
        except Exception as exc:
            pytest.fail(f"{type(exc).__name__} escaped load_config: {exc}")
    assert isinstance(config, Config)


@pytest.mark.parametrize(
    "content",
    [
        b"\xff\xfe\x00 not utf-8",
        b"preset: [cpu]\n",
        b"preset: {a: 1}\n",
        b"preset: 7\n",
        b"a: " + b"[" * 20_000 + b"]" * 20_000 + b"\n",
        b"model: {base_channels: !!python/name:os.system}\n",
    ],
    ids=["binary", "preset-list", "preset-dict", "preset-int", "deep-nesting", "python-name-tag"],
)
def test_bad_config_files_are_one_line_errors(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(content)
    with pytest.raises(PdsError) as info, no_hang(20):
        load_config(path)
    assert_one_line_error(info.value, path)


def test_config_that_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").mkdir()
    with pytest.raises(InputError) as info:
        load_config(tmp_path / "c.yaml")
    assert_one_line_error(info.value, tmp_path / "c.yaml")
