"""CloudWatch Logs (`logs`, JSON 1.1): the operations boto3, the AWS CLI and the SageMaker SDK use.

Paging follows what the SDK's log tail (`sagemaker.logs.log_stream`, `Session.logs_for_job`)
depends on: GetLogEvents returns an empty page carrying the same forward token once no newer
events exist, and DescribeLogStreams returns `nextToken` only when more streams remain.
"""

from __future__ import annotations

from typing import Any

from kiln.aws.context import RequestContext
from kiln.aws.dispatch import Provider, operation
from kiln.aws.errors import AwsError
from kiln.core import clock
from kiln.core.errors import DomainError, InvalidInput
from kiln.services.logs import ingest, wire
from kiln.services.logs.errors import to_aws_error
from kiln.services.logs.patterns import compile_pattern
from kiln.services.logs.store import LogStore


class LogsProvider(Provider):
    """Translation only: request members -> LogStore calls -> response members."""

    service = "logs"

    def __init__(self, store: LogStore) -> None:
        self.store = store

    def domain_errors(self, err: DomainError) -> AwsError:
        return to_aws_error(err)

    # -- groups -------------------------------------------------------------------------------

    @operation("CreateLogGroup")
    def create_log_group(self, ctx: RequestContext, request: dict[str, Any]) -> None:
        self.store.create_group(ctx.scope, request["logGroupName"], kms_key_id=request.get("kmsKeyId"),
                                group_class=request.get("logGroupClass", "STANDARD"))

    @operation("DeleteLogGroup")
    def delete_log_group(self, ctx: RequestContext, request: dict[str, Any]) -> None:
        self.store.delete_group(ctx.scope, request["logGroupName"])

    @operation("DescribeLogGroups")
    def describe_log_groups(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        if request.get("logGroupNamePrefix") and request.get("logGroupNamePattern"):
            raise InvalidInput("LogGroup name prefix and LogGroup name pattern are mutually exclusive "
                               "parameters.")  # unverified wording
        limit = request.get("limit", 50)
        token = request.get("nextToken")
        groups = self.store.list_groups(
            ctx.scope, prefix=request.get("logGroupNamePrefix"), contains=request.get("logGroupNamePattern"),
            names=request.get("logGroupIdentifiers") and [wire.group_name({"logGroupIdentifier": i})
                                                         for i in request["logGroupIdentifiers"]],
            after=wire.parse_group_token(token) if token else None, limit=limit + 1)
        out: dict[str, Any] = {"logGroups": [wire.group_out(g) for g in groups[:limit]]}
        if len(groups) > limit:
            out["nextToken"] = wire.group_token(groups[limit - 1].name)
        return out

    # -- streams ------------------------------------------------------------------------------

    @operation("CreateLogStream")
    def create_log_stream(self, ctx: RequestContext, request: dict[str, Any]) -> None:
        self.store.create_stream(ctx.scope, request["logGroupName"], request["logStreamName"])

    @operation("DeleteLogStream")
    def delete_log_stream(self, ctx: RequestContext, request: dict[str, Any]) -> None:
        self.store.delete_stream(ctx.scope, request["logGroupName"], request["logStreamName"])

    @operation("DescribeLogStreams")
    def describe_log_streams(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        by_last_event = request.get("orderBy", "LogStreamName") == "LastEventTime"
        prefix = request.get("logStreamNamePrefix")
        if by_last_event and prefix:
            raise InvalidInput("Cannot order by LastEventTime with a logStreamNamePrefix.")
        group = wire.group_name(request)
        limit = request.get("limit", 50)
        token = request.get("nextToken")
        streams = self.store.list_streams(
            ctx.scope, group, prefix=prefix, by_last_event=by_last_event,
            descending=request.get("descending", False),
            after=wire.parse_stream_token(token) if token else None, limit=limit + 1)
        out: dict[str, Any] = {"logStreams": [wire.stream_out(ctx.scope, s) for s in streams[:limit]]}
        if len(streams) > limit:  # never otherwise: the SDK re-requests without the token (§5)
            last = streams[limit - 1]
            key = (last.last_event_ms or 0) if by_last_event else 0
            out["nextToken"] = wire.stream_token((key, last.name))
        return out

    # -- events -------------------------------------------------------------------------------

    @operation("PutLogEvents")
    def put_log_events(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        events = [(e["timestamp"], e["message"]) for e in request["logEvents"]]
        verdict = ingest.admit(events, clock.millis())
        seq = self.store.append(ctx.scope, request["logGroupName"], request["logStreamName"],
                                events[verdict.start:verdict.stop])
        out: dict[str, Any] = {"nextSequenceToken": f"{seq + 1:056d}"}
        rejected = {}
        if verdict.too_old_end is not None:
            rejected["tooOldLogEventEndIndex"] = verdict.too_old_end
        if verdict.too_new_start is not None:
            rejected["tooNewLogEventStartIndex"] = verdict.too_new_start
        if rejected:
            out["rejectedLogEventsInfo"] = rejected
        return out

    @operation("GetLogEvents")
    def get_log_events(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        group, stream = wire.group_name(request), request["logStreamName"]
        window = {"start_ms": request.get("startTime"), "end_ms": request.get("endTime")}
        limit = request.get("limit", 10_000)
        token = request.get("nextToken")
        seq: int | None
        if token:
            direction, seq = wire.parse_event_token(token)
        elif request.get("startFromHead", False):
            direction, seq = "f", 0
        else:
            direction, seq = "b", None  # the newest events
        if direction == "f":
            events = self.store.read(ctx.scope, group, stream, after_seq=seq or 0, limit=limit, **window)
        else:
            events = self.store.read_back(ctx.scope, group, stream, before_seq=seq, limit=limit, **window)
        if events:
            forward, backward = events[-1].seq, events[0].seq
        elif direction == "f" or seq is None:  # nothing newer: the same forward token again
            forward, backward = seq or 0, (seq or 0) + 1
        else:
            forward, backward = max(seq - 1, 0), seq
        return {"events": [wire.event_out(e) for e in events],
                "nextForwardToken": wire.event_token("f", forward),
                "nextBackwardToken": wire.event_token("b", backward)}

    @operation("FilterLogEvents")
    def filter_log_events(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        names, prefix = request.get("logStreamNames"), request.get("logStreamNamePrefix")
        if names and prefix:
            raise InvalidInput("logStreamNames and logStreamNamePrefix are mutually exclusive "
                               "parameters.")  # unverified wording
        token = request.get("nextToken")
        page = self.store.filter(
            ctx.scope, wire.group_name(request), streams=names, prefix=prefix,
            start_ms=request.get("startTime"), end_ms=request.get("endTime"),
            match=compile_pattern(request.get("filterPattern")),
            after=wire.parse_filter_token(token) if token else None, limit=request.get("limit", 10_000))
        out: dict[str, Any] = {"events": [wire.filtered_out(f) for f in page.events],
                               "searchedLogStreams": []}
        if page.resume_after is not None:
            out["nextToken"] = wire.filter_token(page.resume_after)
        return out
