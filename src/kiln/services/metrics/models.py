"""Metric values as the domain sees them: no AWS shapes, no SQL.

A *series* is one metric identity: (namespace, name, dimension set). Dimensions are compared as a
set, so `(("A", "1"), ("B", "2"))` and `(("B", "2"), ("A", "1"))` are the same series.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

Dimensions = tuple[tuple[str, str], ...]

BASIC_STATISTICS: tuple[str, ...] = ("SampleCount", "Sum", "Average", "Minimum", "Maximum")


def canonical_dimensions(dims: Mapping[str, str] | Iterable[tuple[str, str]]) -> Dimensions:
    """Dimensions sorted by name: the one spelling the store keys series by."""
    pairs = dims.items() if isinstance(dims, Mapping) else dims
    return tuple(sorted((str(k), str(v)) for k, v in pairs))


def dimensions_key(dims: Dimensions) -> str:
    """The compact text a series is keyed by (JSON of the sorted pairs)."""
    return json.dumps([list(p) for p in dims], separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class Datum:
    """One observed value. `count` > 1 means the value was seen that many times (CloudWatch's
    `Values`/`Counts`); `step` is the iteration (epoch) the value belongs to, where one is known."""

    namespace: str
    name: str
    dimensions: Dimensions
    timestamp: float
    value: float
    unit: str = "None"
    count: float = 1.0
    step: int | None = None


@dataclass(frozen=True)
class StatisticSet:
    """Pre-aggregated values (CloudWatch's `StatisticValues`). Percentiles over a period that holds a
    set are unavailable unless the set is equivalent to raw values (minimum == maximum)."""

    namespace: str
    name: str
    dimensions: Dimensions
    timestamp: float
    sample_count: float
    sum: float
    minimum: float
    maximum: float
    unit: str = "None"


@dataclass(frozen=True)
class MetricIdentity:
    namespace: str
    name: str
    dimensions: Dimensions


@dataclass(frozen=True)
class Datapoint:
    """The aggregate of one period (and one unit, where units are reported apart)."""

    timestamp: float
    sample_count: float
    sum: float
    minimum: float
    maximum: float
    unit: str = "None"
    extended: dict[str, float] = field(default_factory=dict)

    @property
    def average(self) -> float:
        return self.sum / self.sample_count if self.sample_count else 0.0

    def as_dict(self) -> dict[str, float]:
        out = {"Timestamp": self.timestamp, "SampleCount": self.sample_count, "Sum": self.sum,
               "Average": self.average, "Minimum": self.minimum, "Maximum": self.maximum}
        out.update(self.extended)
        return out


@dataclass(frozen=True)
class RawPoint:
    """A stored value as written (statistic sets report their average as `value`)."""

    timestamp: float
    value: float
    count: float
    step: int | None
    minimum: float
    maximum: float
