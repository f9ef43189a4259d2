"""How a number reads in every table the tool writes: HTML reports, results.md, diagnosis.md, model cards and
console summaries. One module, so the same value reads the same everywhere.

Every formatter takes a value that may be missing: None, NaN or a non-number read from a file all print as
"n/a" (never "nan", never an exception), so a report of a partial run still renders.
"""

from __future__ import annotations

import json
import numbers
from collections.abc import Mapping
from typing import Any, TypeGuard

NA = "n/a"
NO_DIFFERENCE = "—"  # a paired difference that was not computed (the reference model itself)


def is_number(value: Any) -> TypeGuard[float]:
    """A real number (numpy scalars and bool included) that is not NaN."""
    return isinstance(value, numbers.Real) and value == value


def sig(value: Any, digits: int = 4) -> str:
    """`digits` significant digits: 21.5317 -> '21.53', 0.000123456 -> '0.0001235'."""
    return f"{value:.{digits}g}" if is_number(value) else NA


def fixed(value: Any, digits: int = 3, signed: bool = False) -> str:
    """`digits` decimals, with a sign when `signed` (for differences): 0.8125 -> '0.812', '+0.812'."""
    if not is_number(value):
        return NA
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def with_ci(value: Any, ci: Any, digits: int = 3, signed: bool = False) -> str:
    """'0.812 [0.700, 0.900]': the value and, when `ci` is a pair of numbers, its confidence interval
    ('n/a' alone when the value is missing: an interval around nothing says nothing)."""
    text = fixed(value, digits, signed)
    pair = isinstance(ci, (list, tuple)) and len(ci) == 2 and all(isinstance(v, numbers.Real) for v in ci)
    if pair and is_number(value):
        text += f" [{fixed(ci[0], digits, signed)}, {fixed(ci[1], digits, signed)}]"
    return text


def difference(value: Any, ci: Any, p: Any, digits: int) -> str:
    """A paired difference: '+1.40 [+0.90, +1.90] (p=0.031)'; '—' when it was not computed."""
    if value is None:
        return NO_DIFFERENCE
    text = with_ci(value, ci, digits, signed=True)
    return text if p is None else f"{text} (p={sig(p, 2)})"


def mean_std(mean: Any, std: Any, digits: int) -> str:
    """'21.53 ± 0.41' at `digits` decimals; just the mean without a std (n < 2); 'n/a' without a mean."""
    if not is_number(mean):
        return NA
    return fixed(mean, digits) if std is None else f"{fixed(mean, digits)} ± {fixed(std, digits)}"


def summary_stat(summary: Mapping[str, Any] | None, digits: int = 4) -> str:
    """A {"mean", "std"} summary in significant digits: '21.53 ± 0.41' (std to 2), 'n/a' when undefined."""
    if not summary or summary.get("mean") is None:
        return NA
    if summary.get("std") is None:
        return sig(summary["mean"], digits)
    return f"{sig(summary['mean'], digits)} ± {sig(summary['std'], 2)}"


def percent(value: Any, digits: int = 0) -> str:
    """A fraction as a percentage: 0.3 -> '30%'."""
    return f"{value:.{digits}%}" if is_number(value) else NA


def thousands(value: Any) -> str:
    """An integer count with thousands separators: 1234567 -> '1,234,567'."""
    return f"{value:,}" if is_number(value) else NA


def cell(value: Any, digits: int = 4) -> str:
    """A table cell: floats to `digits` significant digits; None/NaN as n/a; lists of numbers (CIs) as [a, b];
    other lists and dicts as compact JSON; anything else as str (so integers stay exact)."""
    if value is None:
        return NA
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return sig(value, digits)
    numbers_only = isinstance(value, list) and value and all(type(v) in (int, float) for v in value)
    if numbers_only:
        return "[" + ", ".join(cell(v, digits) for v in value) + "]"
    if isinstance(value, (list, dict)):
        return json.dumps(value, default=str)
    return str(value)
