"""AWS `logs` shapes <-> LogStore values: names, ARNs, pagination tokens, response members.

Token formats (opaque to clients, readable in a debugger):

* GetLogEvents: `f/<seq>` reads forward after event `seq`, `b/<seq>` reads backward before it;
  at the end of a stream the same token comes back, so `while events:` loops terminate.
* DescribeLogStreams / DescribeLogGroups: `s/…` and `g/…`, base64 of the last key returned.
* FilterLogEvents: `e/<timestamp>/<stream id>/<seq>` of the last event examined.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from kiln.core import arns
from kiln.core.errors import InvalidInput
from kiln.core.scope import Scope
from kiln.services.logs.models import FilteredEvent, LogEvent, LogGroup, LogStream

_BAD_TOKEN = "The specified nextToken is invalid."  # unverified wording


def group_arn(scope: Scope, group: str) -> str:
    return arns.arn(scope, "logs", f"log-group:{group}")


def stream_arn(scope: Scope, group: str, stream: str) -> str:
    return arns.arn(scope, "logs", f"log-group:{group}:log-stream:{stream}")


def group_name(request: dict[str, Any]) -> str:
    """The group a request names by `logGroupName` or `logGroupIdentifier` (a name or an ARN)."""
    name = request.get("logGroupName")
    ident = request.get("logGroupIdentifier")
    if name and ident:
        raise InvalidInput("LogGroup name and LogGroup ARN are mutually exclusive parameters.")  # unverified
    if ident:
        if ident.startswith("arn:"):
            parts = ident.split(":")
            if len(parts) < 7 or parts[5] != "log-group":
                raise InvalidInput(f"Invalid log group identifier: {ident}")
            return parts[6]
        return str(ident)
    if not name:
        raise InvalidInput("Should provide either name or ARN of the log group.")  # unverified
    return str(name)


# -- responses --------------------------------------------------------------------------------

def group_out(group: LogGroup) -> dict[str, Any]:
    arn = group_arn(group.scope, group.name)
    out: dict[str, Any] = {
        "logGroupName": group.name,
        "creationTime": group.created_ms,
        "metricFilterCount": 0,
        "arn": f"{arn}:*",
        "logGroupArn": arn,
        "storedBytes": group.stored_bytes,
        "logGroupClass": group.group_class,
    }
    if group.retention_days is not None:
        out["retentionInDays"] = group.retention_days
    if group.kms_key_id:
        out["kmsKeyId"] = group.kms_key_id
    return out


def stream_out(scope: Scope, stream: LogStream) -> dict[str, Any]:
    out: dict[str, Any] = {
        "logStreamName": stream.name,
        "creationTime": stream.created_ms,
        "arn": stream_arn(scope, stream.group, stream.name),
        "storedBytes": stream.stored_bytes,
    }
    if stream.first_event_ms is not None:
        out["firstEventTimestamp"] = stream.first_event_ms
    if stream.last_event_ms is not None:
        out["lastEventTimestamp"] = stream.last_event_ms
    if stream.last_ingestion_ms is not None:
        out["lastIngestionTime"] = stream.last_ingestion_ms
    return out


def event_out(event: LogEvent) -> dict[str, Any]:
    return {"timestamp": event.timestamp, "message": event.message, "ingestionTime": event.ingestion_time}


def filtered_out(found: FilteredEvent) -> dict[str, Any]:
    event = found.event
    return {"logStreamName": found.stream, "timestamp": event.timestamp, "message": event.message,
            "ingestionTime": event.ingestion_time, "eventId": f"{found.stream_id:010d}{event.seq:020d}"}


# -- tokens -------------------------------------------------------------------------------------

def event_token(direction: str, seq: int) -> str:
    return f"{direction}/{seq}"


def parse_event_token(token: str) -> tuple[str, int]:
    """`("f" | "b", seq)` from a GetLogEvents token."""
    direction, _, number = token.partition("/")
    if direction not in ("f", "b") or not number.isdigit():
        raise InvalidInput(_BAD_TOKEN)
    return direction, int(number)


def _b64(doc: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(doc, separators=(",", ":")).encode()).decode()


def _unb64(text: str) -> Any:
    try:
        return json.loads(base64.urlsafe_b64decode(text.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(_BAD_TOKEN) from exc


def stream_token(key: tuple[int, str]) -> str:
    return "s/" + _b64(list(key))


def parse_stream_token(token: str) -> tuple[int, str]:
    kind, _, body = token.partition("/")
    doc = _unb64(body) if kind == "s" else None
    if not (isinstance(doc, list) and len(doc) == 2 and isinstance(doc[0], int) and isinstance(doc[1], str)):
        raise InvalidInput(_BAD_TOKEN)
    return doc[0], doc[1]


def group_token(name: str) -> str:
    return "g/" + _b64(name)


def parse_group_token(token: str) -> str:
    kind, _, body = token.partition("/")
    doc = _unb64(body) if kind == "g" else None
    if not isinstance(doc, str):
        raise InvalidInput(_BAD_TOKEN)
    return doc


def filter_token(key: tuple[int, int, int]) -> str:
    return "e/{}/{}/{}".format(*key)


def parse_filter_token(token: str) -> tuple[int, int, int]:
    parts = token.split("/")
    if len(parts) != 4 or parts[0] != "e" or not all(p.lstrip("-").isdigit() for p in parts[1:]):
        raise InvalidInput(_BAD_TOKEN)
    return int(parts[1]), int(parts[2]), int(parts[3])
