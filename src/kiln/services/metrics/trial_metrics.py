"""SageMaker Metrics (BatchPutMetrics / BatchGetMetrics) in domain terms: which series a resource's
metrics live in, and the per-period or per-iteration statistics BatchGetMetrics reports.

Times are epoch seconds (the model's `Start`, `End` and timestamp `XAxisValues` are plain longs;
the unit is not documented, seconds is Kiln's reading).
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from kiln.core.scope import Scope
from kiln.services.metrics.models import Dimensions, RawPoint

TRIAL_COMPONENTS_NAMESPACE = "/aws/sagemaker/TrialComponents"
TRAINING_JOBS_NAMESPACE = "/aws/sagemaker/TrainingJobs"
PERIOD_SECONDS = {"OneMinute": 60, "FiveMinute": 300, "OneHour": 3600}
PUT_WINDOW_PAST = 14 * 86400  # BatchPutMetrics accepts timestamps from two weeks ago ...
PUT_WINDOW_FUTURE = 2 * 3600  # ... to two hours ahead

_ARN = re.compile(r"^arn:aws[a-z\-]*:sagemaker:(?P<region>[a-z0-9\-]*):(?P<account>\d{12}):"
                  r"(?P<kind>[a-z\-]+)/(?P<name>.+)$")
_SOURCES = {
    "experiment-trial-component": (TRIAL_COMPONENTS_NAMESPACE, "TrialComponentName"),
    "training-job": (TRAINING_JOBS_NAMESPACE, "TrainingJobName"),
}


@dataclass(frozen=True, slots=True)
class SeriesRef:
    scope: Scope
    namespace: str
    dimensions: Dimensions


def trial_component_dimensions(name: str) -> Dimensions:
    return (("TrialComponentName", name),)


def resolve(arn: str) -> SeriesRef:
    """Where the metrics of the resource `arn` are stored.

    Raises:
        ValueError: the ARN does not name a trial component or a training job (message says why).
    """
    m = _ARN.match(arn)
    if not m:
        raise ValueError(f"{arn} is not a valid SageMaker resource ARN.")
    source = _SOURCES.get(m.group("kind"))
    if source is None:
        raise ValueError(f"Metrics are not available for resources of type {m.group('kind')}; use a "
                         "training job or trial component ARN.")
    namespace, dim = source
    return SeriesRef(Scope(m.group("account"), m.group("region")), namespace, ((dim, m.group("name")),))


def timestamp_in_window(ts: float, now: float) -> bool:
    return now - PUT_WINDOW_PAST <= ts <= now + PUT_WINDOW_FUTURE


def aggregate(points: Sequence[RawPoint], stat: str, period: str,
              x_axis: str) -> tuple[list[int], list[float]]:
    """(XAxisValues, MetricValues) for one BatchGetMetrics query over `points` (oldest first)."""
    groups: dict[int, list[RawPoint]] = {}
    if period == "IterationNumber":
        for p in points:
            if p.step is not None:
                groups.setdefault(p.step, []).append(p)
    else:
        seconds = PERIOD_SECONDS[period]
        for p in points:
            groups.setdefault(math.floor(p.timestamp / seconds) * seconds, []).append(p)
    xs: list[int] = []
    ys: list[float] = []
    for key in sorted(groups):
        members = groups[key]
        if x_axis == "IterationNumber":
            steps = [p.step for p in members if p.step is not None]
            if not steps:
                continue
            xs.append(max(steps))
        else:
            xs.append(int(key) if period != "IterationNumber" else int(members[0].timestamp))
        ys.append(_stat(members, stat))
    return xs, ys


def _stat(points: Sequence[RawPoint], stat: str) -> float:
    values = [p.value for p in points]
    match stat:
        case "Min":
            return min(p.minimum for p in points)
        case "Max":
            return max(p.maximum for p in points)
        case "Count":
            return float(sum(p.count for p in points))
        case "Last":
            return values[-1]
        case "StdDev":
            return statistics.pstdev(values) if len(values) > 1 else 0.0
    total = sum(p.value * p.count for p in points)
    return total / sum(p.count for p in points)
