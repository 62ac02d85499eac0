"""Extended statistics over weighted raw values: percentiles (`p99`, `p99.9`), trimmed mean
(`tm90`, `tm(10%:90%)`, `TM(100:200)`), interquartile mean (`iqm`), winsorized mean (`wm`),
trimmed count and sum (`tc`, `ts`) and percentile rank (`PR(:300)`).

Values carry a weight (the number of times each was observed). Percentiles use the nearest-rank
method. A bound written with `%` is a percentile; a bound without one is a value, compared
lower-exclusive and upper-inclusive, as CloudWatch documents it for `PR` and the trimmed forms.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

_PERCENTILE = re.compile(r"^p(\d{1,2}(?:\.\d{1,10})?|100(?:\.0{1,10})?)$", re.IGNORECASE)
_SHORT = re.compile(r"^(tm|wm|tc|ts)(\d{1,2}(?:\.\d{1,10})?|100)$", re.IGNORECASE)
_RANGE = re.compile(r"^(tm|wm|tc|ts|pr)\(([^:()]*):([^:()]*)\)$", re.IGNORECASE)
_BOUND = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)?\s*(%?)\s*$")

Weighted = Sequence[tuple[float, float]]  # (value, count), sorted by value


@dataclass(frozen=True, slots=True)
class Extended:
    """A parsed extended statistic. Bounds are fractions (0..1) when `percent`, else values."""

    text: str
    kind: str  # "p" | "tm" | "wm" | "tc" | "ts" | "pr"
    lower: float | None
    upper: float | None
    percent: bool


def parse(text: str) -> Extended:
    """Parse an extended statistic name.

    Raises:
        ValueError: `text` is not one CloudWatch accepts.
    """
    m = _PERCENTILE.match(text)
    if m:
        return Extended(text, "p", None, float(m.group(1)) / 100, True)
    if text.lower() == "iqm":
        return Extended(text, "tm", 0.25, 0.75, True)
    m = _SHORT.match(text)
    if m:
        return Extended(text, m.group(1).lower(), 0.0, float(m.group(2)) / 100, True)
    m = _RANGE.match(text)
    if not m:
        raise ValueError(text)
    kind = m.group(1).lower()
    low, low_pct = _bound(m.group(2))
    high, high_pct = _bound(m.group(3))
    if low is None and high is None:
        raise ValueError(text)
    percent = low_pct or high_pct
    if (low is not None and low_pct != percent) or (high is not None and high_pct != percent):
        raise ValueError(text)  # mixed percent and value bounds
    if kind == "pr" and percent:
        raise ValueError(text)  # PR bounds are values
    if percent:
        low = 0.0 if low is None else low / 100
        high = 1.0 if high is None else high / 100
        if not 0 <= low <= high <= 1:
            raise ValueError(text)
    elif low is not None and high is not None and low > high:
        raise ValueError(text)
    return Extended(text, kind, low, high, percent)


def is_valid(text: str) -> bool:
    try:
        parse(text)
    except ValueError:
        return False
    return True


def _bound(text: str) -> tuple[float | None, bool]:
    m = _BOUND.match(text)
    if not m:
        raise ValueError(text)
    if m.group(1) is None:
        if m.group(2):
            raise ValueError(text)
        return None, False
    return float(m.group(1)), bool(m.group(2))


def compute(stat: Extended, values: Weighted) -> float | None:
    """The statistic over `values` (sorted by value), or None when it has no value (no data, or an
    empty trimmed window)."""
    total = sum(c for _, c in values)
    if total <= 0:
        return None
    if stat.kind == "p":
        return percentile(values, stat.upper or 0.0, total)
    if stat.kind == "pr":
        inside = sum(c for v, c in values if _in_value_range(v, stat.lower, stat.upper))
        return 100.0 * inside / total
    if stat.kind == "wm":
        return _winsorized(stat, values, total)
    window = _window(stat, values, total)
    count = sum(w for _, w in window)
    if stat.kind == "tc":
        return count
    total_sum = sum(v * w for v, w in window)
    if stat.kind == "ts":
        return total_sum
    return total_sum / count if count > 0 else None


def percentile(values: Weighted, fraction: float, total: float | None = None) -> float:
    """Nearest rank: the smallest value whose cumulative weight reaches `fraction` of the total."""
    total = sum(c for _, c in values) if total is None else total
    rank = fraction * total
    cum = 0.0
    for v, c in values:
        cum += c
        if cum >= rank - 1e-9 * max(1.0, total):
            return v
    return values[-1][0]


def _in_value_range(v: float, lower: float | None, upper: float | None) -> bool:
    return (lower is None or v > lower) and (upper is None or v <= upper)


def _window(stat: Extended, values: Weighted, total: float) -> list[tuple[float, float]]:
    """(value, weight inside the window) for a trimmed statistic."""
    if not stat.percent:
        return [(v, c) for v, c in values if _in_value_range(v, stat.lower, stat.upper)]
    lo, hi = (stat.lower or 0.0) * total, (stat.upper if stat.upper is not None else 1.0) * total
    out, cum = [], 0.0
    for v, c in values:
        start, end = cum, cum + c
        cum = end
        overlap = min(end, hi) - max(start, lo)
        if overlap > 0:
            out.append((v, overlap))
    return out


def _winsorized(stat: Extended, values: Weighted, total: float) -> float:
    if stat.percent:
        low_v = percentile(values, stat.lower or 0.0, total) if stat.lower else -math.inf
        high_v = percentile(values, stat.upper if stat.upper is not None else 1.0, total)
    else:
        low_v = stat.lower if stat.lower is not None else -math.inf
        high_v = stat.upper if stat.upper is not None else math.inf
    return sum(min(max(v, low_v), high_v) * c for v, c in values) / total
