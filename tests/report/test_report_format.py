"""report/format.py: every number the tool writes reads the same, and a missing one is 'n/a', never 'nan'."""

from __future__ import annotations

import numpy as np
import pytest

from pds_mri.report.format import (
    cell,
    difference,
    fixed,
    is_number,
    mean_std,
    percent,
    sig,
    summary_stat,
    thousands,
    with_ci,
)

MISSING = [None, float("nan"), "0.5", [0.5], {"mean": 1.0}]


@pytest.mark.parametrize("value", MISSING)
def test_a_missing_or_non_numeric_value_is_na_everywhere(value: object) -> None:
    assert not is_number(value)
    assert sig(value) == fixed(value) == fixed(value, 1, signed=True) == "n/a"
    assert with_ci(value, [0.1, 0.2]) == "n/a"  # no interval around nothing
    assert mean_std(value, 0.1, 2) == percent(value) == thousands(value) == "n/a"


def test_significant_digits_and_fixed_decimals_round_as_python_formats() -> None:
    assert sig(21.531749) == "21.53" and sig(0.000123456) == "0.0001235" and sig(123456.7) == "1.235e+05"
    assert sig(0.123456, 2) == "0.12" and sig(np.float32(0.5)) == "0.5" and sig(3) == "3"
    assert fixed(0.8125) == "0.812" and fixed(0.8135) == "0.814" and fixed(2.0, 1) == "2.0"
    assert fixed(0.8125, signed=True) == "+0.812" and fixed(-0.0421, 3, signed=True) == "-0.042"
    assert fixed(float("inf")) == "inf"  # infinite is a value (PSNR of an exact synthesis), not missing


def test_confidence_intervals_need_a_pair_of_numbers() -> None:
    assert with_ci(0.8125, [0.7, 0.9]) == "0.812 [0.700, 0.900]"
    assert with_ci(0.05, (-0.01, 0.11), signed=True) == "+0.050 [-0.010, +0.110]"
    assert with_ci(0.8125, [0.7, 0.9], digits=2) == "0.81 [0.70, 0.90]"
    for ci in (None, [None, None], [0.7], [0.7, 0.8, 0.9], "0.7, 0.9"):
        assert with_ci(0.8125, ci) == "0.812"


def test_a_paired_difference_carries_sign_ci_and_p_value() -> None:
    assert difference(1.4, [0.9, 1.9], 0.03125, 2) == "+1.40 [+0.90, +1.90] (p=0.031)"
    assert difference(-0.002, None, None, 4) == "-0.0020"
    assert difference(None, [0.1, 0.2], 0.5, 2) == "—"  # not computed (the reference model itself)


def test_mean_std_and_summary_stat() -> None:
    assert mean_std(21.5317, 0.4123, 2) == "21.53 ± 0.41" and mean_std(0.5, None, 4) == "0.5000"
    assert summary_stat({"mean": 21.5317, "std": 0.41234, "n": 3}) == "21.53 ± 0.41"
    assert summary_stat({"mean": 0.123456, "std": None}) == "0.1235"
    assert summary_stat({"mean": None, "std": None}) == summary_stat(None) == summary_stat({}) == "n/a"


def test_percent_thousands_and_cells() -> None:
    assert percent(0.3) == "30%" and percent(0.3333, 1) == "33.3%"
    assert thousands(1234567) == "1,234,567" and thousands(12) == "12"
    assert cell(12345678) == "12345678" and cell(123456.789) == "1.235e+05"  # integers stay exact in tables
    assert cell(True) == "True" and cell(float("inf")) == "inf" and cell("x") == "x"
