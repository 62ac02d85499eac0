"""CloudWatch request shapes -> domain values, domain values -> response shapes.

The rules CloudWatch enforces beyond botocore's model (mutually exclusive members, period values,
the 1,440-datapoint limit) live here, each raising the error code CloudWatch's model names.
Messages marked `# unverified` follow CloudWatch's style but were not captured from AWS.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kiln.services.metrics import stats
from kiln.services.metrics.errors import InvalidParameterCombination, InvalidParameterValue, MissingParameter
from kiln.services.metrics.models import BASIC_STATISTICS, Datapoint, Datum, Dimensions, StatisticSet

MAX_DATAPOINTS = 1440  # GetMetricStatistics
MAX_DATUMS = 1000  # PutMetricData, per request
MAX_VALUES = 150  # Values/Counts per datum
HIGH_RESOLUTION_PERIODS = (1, 5, 10, 20, 30)
_TOO_LARGE, _TOO_SMALL = 2.0**360, 2.0**-260  # CloudWatch rejects magnitudes outside this range


def epoch(value: datetime | float) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value)


# ---------------------------------------------------------------------------------------- shared


def dimensions(items: Sequence[Mapping[str, Any]] | None, where: str) -> Dimensions:
    """`[{"Name", "Value"}]` as domain dimensions; a repeated name is an error."""
    out: dict[str, str] = {}
    for i, item in enumerate(items or [], 1):
        name = item.get("Name")
        if name is None:
            raise MissingParameter(f"The parameter {where}.member.{i}.Name is required.")
        if item.get("Value") is None:
            raise MissingParameter(f"The parameter {where}.member.{i}.Value is required.")
        if name in out:
            raise InvalidParameterValue(  # unverified
                f"The value {name} for parameter {where}.member.{i}.Name is a duplicate.")
        out[name] = item["Value"]
    return tuple(sorted(out.items()))


def dimensions_out(dims: Dimensions) -> list[dict[str, str]]:
    return [{"Name": k, "Value": v} for k, v in dims]


def check_period(period: int, where: str = "Period") -> None:
    if period in HIGH_RESOLUTION_PERIODS or (period > 0 and period % 60 == 0):
        return
    raise InvalidParameterValue(  # unverified
        f"The parameter {where} must be 1, 5, 10, 20, 30, 60, or a multiple of 60.")


def aligned_start(start: float, period: int) -> float:
    """CloudWatch rounds StartTime down: to the minute, or to the period for high-resolution periods."""
    step = period if period < 60 else 60
    return math.floor(start / step) * step


def check_range(start: float, end: float) -> None:
    if start >= end:
        raise InvalidParameterValue(  # unverified
            "The parameter StartTime must be less than the parameter EndTime.")


def check_statistic(stat: str, where: str) -> None:
    if stat not in BASIC_STATISTICS and not stats.is_valid(stat):
        raise InvalidParameterValue(f"The value {stat} for parameter {where} is not supported.")  # unverified


def encode_token(position: int) -> str:
    return base64.urlsafe_b64encode(f"kiln:{position}".encode()).decode()


def decode_token(token: str | None) -> int:
    """The position in an opaque NextToken (0 for none). Raises ValueError for a token not ours."""
    if not token:
        return 0
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise ValueError(token) from exc
    prefix, _, number = text.partition(":")
    if prefix != "kiln" or not number.isdigit():
        raise ValueError(token)
    return int(number)


# ---------------------------------------------------------------------------------- PutMetricData


def put_data(request: Mapping[str, Any], now: float) -> list[Datum | StatisticSet]:
    """The values of a PutMetricData request. `EntityMetricData` is accepted; the entity is ignored."""
    namespace = request["Namespace"]
    if namespace.startswith("AWS/"):
        raise InvalidParameterValue(  # unverified
            f"The value {namespace} for parameter Namespace is invalid: the AWS/ prefix is reserved.")
    groups = [("MetricData", request.get("MetricData"))]
    for i, entity in enumerate(request.get("EntityMetricData") or [], 1):
        groups.append((f"EntityMetricData.member.{i}.MetricData", entity.get("MetricData")))
    if all(not data for _, data in groups):
        raise MissingParameter("The parameter MetricData is required.")  # unverified
    total = sum(len(data or []) for _, data in groups)
    if total > MAX_DATUMS:
        raise InvalidParameterValue(  # unverified
            f"The collection MetricData must not have a size greater than {MAX_DATUMS}.")
    out: list[Datum | StatisticSet] = []
    for where, data in groups:
        for i, item in enumerate(data or [], 1):
            out.extend(_datum(namespace, item, f"{where}.member.{i}", now))
    return out


def _datum(namespace: str, item: Mapping[str, Any], where: str, now: float) -> list[Datum | StatisticSet]:
    name = item.get("MetricName")
    if not name:
        raise MissingParameter(f"The parameter {where}.MetricName is required.")
    dims = dimensions(item.get("Dimensions"), f"{where}.Dimensions")
    ts = epoch(item["Timestamp"]) if item.get("Timestamp") is not None else now
    unit = item.get("Unit") or "None"
    resolution = item.get("StorageResolution")
    if resolution is not None and resolution not in (1, 60):
        raise InvalidParameterValue(  # unverified
            f"The value {resolution} for parameter {where}.StorageResolution is invalid: use 1 or 60.")
    given = [k for k in ("Value", "StatisticValues", "Values") if item.get(k) is not None]
    if len(given) > 1:
        raise InvalidParameterCombination(
            f"The parameters {where}.{given[0]} and {where}.{given[1]} are mutually exclusive and you "
            "have specified both.")
    if item.get("Counts") is not None and item.get("Values") is None:
        raise InvalidParameterCombination(  # unverified
            f"The parameter {where}.Counts requires the parameter {where}.Values.")
    if not given:
        raise MissingParameter(f"The parameter {where}.Value is required.")  # unverified
    if "StatisticValues" in given:
        return [_statistic_set(namespace, name, dims, ts, unit, item["StatisticValues"], where)]
    if "Value" in given:
        return [Datum(namespace, name, dims, ts, _value(item["Value"], f"{where}.Value"), unit)]
    values = item["Values"]
    counts = item.get("Counts")
    if len(values) > MAX_VALUES:
        raise InvalidParameterValue(  # unverified
            f"The collection {where}.Values must not have a size greater than {MAX_VALUES}.")
    if counts is not None and len(counts) != len(values):
        raise InvalidParameterValue(
            f"The parameters {where}.Values and {where}.Counts must be of the same size.")
    out: list[Datum | StatisticSet] = []
    for j, value in enumerate(values, 1):
        count = 1.0 if counts is None else counts[j - 1]
        if not math.isfinite(count) or count < 0:
            raise InvalidParameterValue(
                f"The value {count} for parameter {where}.Counts.member.{j} is invalid.")
        if count > 0:
            value = _value(value, f"{where}.Values.member.{j}")
            out.append(Datum(namespace, name, dims, ts, value, unit, count))
    return out


def _value(value: float, where: str) -> float:
    magnitude = abs(value)
    if not math.isfinite(value) or magnitude > _TOO_LARGE or (0 < magnitude < _TOO_SMALL):
        raise InvalidParameterValue(f"The value {value} for parameter {where} is invalid.")
    return value


def _statistic_set(namespace: str, name: str, dims: Dimensions, ts: float, unit: str,
                   values: Mapping[str, float], where: str) -> StatisticSet:
    count, total, low, high = (_value(values[k], f"{where}.StatisticValues.{k}")
                               for k in ("SampleCount", "Sum", "Minimum", "Maximum"))
    if count <= 0:
        raise InvalidParameterValue(  # unverified
            f"The value {count} for parameter {where}.StatisticValues.SampleCount is invalid.")
    if low > high:
        raise InvalidParameterValue(  # unverified
            f"The parameter {where}.StatisticValues.Minimum must not be greater than "
            f"{where}.StatisticValues.Maximum.")
    return StatisticSet(namespace, name, dims, ts, count, total, low, high, unit)


# ---------------------------------------------------------------------------- GetMetricStatistics


@dataclass(frozen=True, slots=True)
class StatisticsQuery:
    namespace: str
    name: str
    dimensions: Dimensions
    start: float
    end: float
    period: int
    statistics: tuple[str, ...]
    extended: tuple[str, ...]
    unit: str | None


def statistics_query(request: Mapping[str, Any]) -> StatisticsQuery:
    basic = tuple(request.get("Statistics") or ())
    extended = tuple(request.get("ExtendedStatistics") or ())
    if bool(basic) == bool(extended):
        raise InvalidParameterCombination(
            "Must specify either Statistics or ExtendedStatistics, but not both.")
    for i, stat in enumerate(basic, 1):
        if stat not in BASIC_STATISTICS:
            raise InvalidParameterValue(f"The value {stat} for parameter Statistics.member.{i} is invalid.")
    for i, stat in enumerate(extended, 1):
        if not stats.is_valid(stat):
            raise InvalidParameterValue(  # unverified
                f"The value {stat} for parameter ExtendedStatistics.member.{i} is not a valid extended "
                "statistic.")
    period = int(request["Period"])
    check_period(period)
    start, end = epoch(request["StartTime"]), epoch(request["EndTime"])
    check_range(start, end)
    start = aligned_start(start, period)
    requested = math.ceil((end - start) / period)
    if requested > MAX_DATAPOINTS:
        raise InvalidParameterCombination(
            f"You have requested up to {requested:,} datapoints, which exceeds the limit of "
            f"{MAX_DATAPOINTS:,}. You may reduce the datapoints requested by increasing Period, or "
            "decreasing the time range.")
    return StatisticsQuery(request["Namespace"], request["MetricName"],
                           dimensions(request.get("Dimensions"), "Dimensions"), start, end, period, basic,
                           extended, request.get("Unit"))


def datapoint_out(point: Datapoint, query: StatisticsQuery) -> dict[str, Any]:
    values = point.as_dict()
    out: dict[str, Any] = {"Timestamp": point.timestamp, "Unit": point.unit}
    for stat in query.statistics:
        out[stat] = values[stat]
    if query.extended:
        out["ExtendedStatistics"] = {s: point.extended[s] for s in query.extended if s in point.extended}
    return out


# ---------------------------------------------------------------------------------- GetMetricData


@dataclass(frozen=True, slots=True)
class DataQuery:
    id: str
    label: str
    namespace: str
    name: str
    dimensions: Dimensions
    period: int
    stat: str
    unit: str | None


def data_queries(request: Mapping[str, Any]) -> list[DataQuery]:
    """The MetricStat queries to answer (ReturnData false ones are dropped: without metric math
    nothing can refer to them)."""
    check_range(epoch(request["StartTime"]), epoch(request["EndTime"]))
    queries = request["MetricDataQueries"]
    if not queries:
        raise MissingParameter("The parameter MetricDataQueries is required.")  # unverified
    if len(queries) > 500:
        raise InvalidParameterValue(  # unverified
            "The collection MetricDataQueries must not have a size greater than 500.")
    seen: set[str] = set()
    out: list[DataQuery] = []
    for i, q in enumerate(queries, 1):
        where = f"MetricDataQueries.member.{i}"
        qid = q["Id"]
        if not qid[:1].islower() or not all(c.isalnum() or c == "_" for c in qid):
            raise InvalidParameterValue(  # unverified
                f"The value {qid} for parameter {where}.Id is invalid: it must start with a lowercase letter "
                "and contain only letters, numbers and underscores.")
        if qid in seen:
            raise InvalidParameterValue(  # unverified
                f"The value {qid} for parameter {where}.Id is not unique.")
        seen.add(qid)
        if q.get("Expression") is not None:
            raise InvalidParameterValue(
                f"Metric math expressions are not supported by Kiln ({where}.Expression); query metrics "
                "with MetricStat instead.")
        stat_spec = q.get("MetricStat")
        if stat_spec is None:
            raise MissingParameter(  # unverified
                f"Exactly one of {where}.MetricStat and {where}.Expression must be specified.")
        if q.get("ReturnData") is False:
            continue
        out.append(_data_query(qid, q, stat_spec, where))
    return out


def _data_query(qid: str, q: Mapping[str, Any], spec: Mapping[str, Any], where: str) -> DataQuery:
    metric = spec["Metric"]
    for key in ("Namespace", "MetricName"):
        if not metric.get(key):
            raise MissingParameter(  # unverified
                f"The parameter {where}.MetricStat.Metric.{key} is required.")
    period = int(spec["Period"])
    check_period(period, f"{where}.MetricStat.Period")
    check_statistic(spec["Stat"], f"{where}.MetricStat.Stat")
    dims = dimensions(metric.get("Dimensions"), f"{where}.MetricStat.Metric.Dimensions")
    return DataQuery(qid, q.get("Label") or metric["MetricName"], metric["Namespace"], metric["MetricName"],
                     dims, period, spec["Stat"], spec.get("Unit"))


def stat_value(point: Datapoint, stat: str) -> float | None:
    if stat in BASIC_STATISTICS:
        return point.as_dict()[stat]
    return point.extended.get(stat)
