"""CloudWatch metrics (`cloudwatch`, signing name `monitoring`): PutMetricData, GetMetricStatistics,
GetMetricData, ListMetrics.

Current botocore sends JSON 1.0 with `x-amzn-query-mode: true`; older clients (and the AWS CLI v1 of
their day) send the query protocol. The gateway picks the codec by content type, so this provider
serves both unchanged.

What Kiln does not do (see docs/metrics.md):
* metric math: a GetMetricData query with `Expression` answers `InvalidParameterValue`
  ("Metric math expressions are not supported by Kiln");
* retention roll-ups: values are kept at full resolution, so StartTime is only rounded down to the
  minute (or to the period, for 1/5/10/20/30-second periods) whatever its age;
* timestamps are not limited to the last two weeks;
* alarms, dashboards, anomaly detectors, metric streams.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from kiln.aws.context import RequestContext
from kiln.aws.dispatch import Provider, operation
from kiln.aws.errors import AwsError
from kiln.core import errors as domain
from kiln.services.metrics import wire_cloudwatch as wire
from kiln.services.metrics.errors import InvalidNextToken, InvalidParameterValue, to_aws_error
from kiln.services.metrics.store import MetricStore

LIST_PAGE_SIZE = 500  # ListMetrics returns up to 500 metrics a page
MAX_DATAPOINTS_DEFAULT = 100_800  # GetMetricData


class CloudWatchProvider(Provider):
    """CloudWatch metric operations. Translation only; storage and aggregation live in MetricStore."""

    service = "cloudwatch"

    def __init__(self, store: MetricStore, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock

    def domain_errors(self, err: domain.DomainError) -> AwsError:
        return to_aws_error(err)

    @operation("PutMetricData")
    def put_metric_data(self, ctx: RequestContext, request: dict[str, Any]) -> None:
        self._store.put(ctx.scope, wire.put_data(request, self._clock()))

    @operation("GetMetricStatistics")
    def get_metric_statistics(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        q = wire.statistics_query(request)
        points = self._store.datapoints(ctx.scope, q.namespace, q.name, q.dimensions, q.start, q.end,
                                        q.period, extended=q.extended, unit=q.unit)
        return {"Label": q.name, "Datapoints": [wire.datapoint_out(p, q) for p in points]}

    @operation("GetMetricData")
    def get_metric_data(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        queries = wire.data_queries(request)
        start, end = wire.epoch(request["StartTime"]), wire.epoch(request["EndTime"])
        try:
            offset = wire.decode_token(request.get("NextToken"))
        except ValueError:
            raise InvalidNextToken(  # unverified
                "The service cannot process the NextToken you provided.") from None
        limit = request.get("MaxDatapoints") or MAX_DATAPOINTS_DEFAULT
        descending = request.get("ScanBy", "TimestampDescending") == "TimestampDescending"
        series = [self._series(ctx, q, start, end, descending) for q in queries]
        results, position = [], 0
        for q, points in zip(queries, series, strict=True):
            skip = min(max(offset - position, 0), len(points))
            room = max(offset + limit - position - skip, 0)
            page = points[skip:skip + room]
            position += len(points)
            results.append({"Id": q.id, "Label": q.label, "Timestamps": [t for t, _ in page],
                            "Values": [v for _, v in page],
                            "StatusCode": "Complete" if skip + len(page) == len(points) else "PartialData"})
        out: dict[str, Any] = {"MetricDataResults": results, "Messages": []}
        if offset + limit < position:
            out["NextToken"] = wire.encode_token(offset + limit)
        return out

    def _series(self, ctx: RequestContext, q: wire.DataQuery, start: float, end: float,
                descending: bool) -> list[tuple[float, float]]:
        extended = () if q.stat in wire.BASIC_STATISTICS else (q.stat,)
        points = self._store.datapoints(ctx.scope, q.namespace, q.name, q.dimensions,
                                        wire.aligned_start(start, q.period), end, q.period, extended=extended,
                                        unit=q.unit, split_units=False)
        out = [(p.timestamp, v) for p in points if (v := wire.stat_value(p, q.stat)) is not None]
        return out[::-1] if descending else out

    @operation("ListMetrics")
    def list_metrics(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        try:
            after = wire.decode_token(request.get("NextToken"))
        except ValueError:
            raise InvalidParameterValue(  # unverified
                f"The value {request.get('NextToken')} for parameter NextToken is invalid.") from None
        owner = request.get("OwningAccount")
        if owner is not None and owner != ctx.scope.account_id:
            return {"Metrics": []}
        filters = [(f["Name"], f.get("Value")) for f in request.get("Dimensions") or []]
        active = self._clock() - 3 * 3600 if request.get("RecentlyActive") == "PT3H" else None
        page, cursor = self._store.list_metrics(ctx.scope, namespace=request.get("Namespace"),
                                                name=request.get("MetricName"), filters=filters,
                                                active_since=active, after=after, limit=LIST_PAGE_SIZE)
        out: dict[str, Any] = {"Metrics": [{"Namespace": m.namespace, "MetricName": m.name,
                                            "Dimensions": wire.dimensions_out(m.dimensions)} for m in page]}
        if request.get("IncludeLinkedAccounts"):
            out["OwningAccounts"] = [ctx.scope.account_id] * len(page)
        if cursor is not None:
            out["NextToken"] = wire.encode_token(cursor)
        return out
