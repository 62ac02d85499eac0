"""What rest-json and rest-xml share: finding the operation from method + path + query, and the
members that live in the URI, query string and headers rather than the body."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import unquote

from botocore.model import OperationModel, ServiceModel, Shape

from kiln.aws import errors
from kiln.aws.protocol.common import HttpRequest, ProtocolError
from kiln.aws.protocol.shapes import from_text, to_text


@dataclass(frozen=True, slots=True)
class Route:
    operation: OperationModel
    method: str
    pattern: re.Pattern[str]
    literal_query: tuple[tuple[str, str | None], ...]  # ("uploads", None), ("list-type", "2")
    required_located: tuple[tuple[str, str], ...]  # (location, wire name) of required header/query members
    literal_chars: int


def _compile(operation: OperationModel) -> Route:
    uri = operation.http["requestUri"]
    path, _, query = uri.partition("?")
    regex, literal = "", 0
    for part in re.split(r"(\{[^}]+\})", path):
        if part.startswith("{"):
            name = part[1:-1]
            if name.endswith("+"):
                regex += f"(?P<{name[:-1]}>.+)"
            else:
                regex += f"(?P<{name}>[^/]+)"
        else:
            regex += re.escape(part)
            literal += len(part)
    if not regex.endswith("/"):
        regex += "/?"
    lits: list[tuple[str, str | None]] = []
    for item in filter(None, query.split("&")):
        k, eq, v = item.partition("=")
        lits.append((k, v if eq else None))
    required: list[tuple[str, str]] = []
    shape = operation.input_shape
    if shape is not None:
        for name in shape.required_members:
            member = shape.members[name]
            loc = member.serialization.get("location")
            if loc in ("header", "querystring"):
                required.append((loc, member.serialization.get("name", name)))
    return Route(operation, operation.http["method"], re.compile(f"^{regex}$", re.DOTALL), tuple(lits),
                 tuple(required), literal)


@cache
def routes(service: ServiceModel) -> tuple[Route, ...]:
    return tuple(_compile(service.operation_model(n)) for n in service.operation_names)


def find_operation(service: ServiceModel, request: HttpRequest) -> tuple[OperationModel, dict[str, str]]:
    """The best route for the request: path and literal query must match, and every required
    header/querystring member must be present; ties go to the most specific route."""
    query = request.query_dict()
    path = request.path.split("?", 1)[0]
    best: tuple[tuple[int, int, int], Route, dict[str, str]] | None = None
    x_id = query.get("x-id", [None])[0]
    for route in routes(service):
        if route.method != request.method:
            continue
        if x_id and route.operation.name != x_id:
            continue
        m = route.pattern.match(path)
        if not m:
            continue
        if any(k not in query or (v is not None and v not in query[k]) for k, v in route.literal_query):
            continue
        present = 0
        for loc, wire in route.required_located:
            if (loc == "header" and wire in request.headers) or (loc == "querystring" and wire in query):
                present += 1
            else:
                break
        else:
            score = (len(route.literal_query), present, route.literal_chars)
            if best is None or score > best[0]:
                best = (score, route, {k: unquote(v) for k, v in m.groupdict().items()})
    if best is None:
        raise errors.UnknownOperationException(
            f"No operation of service {service.service_name} matches {request.method} {path}.")
    return best[1].operation, best[2]


def parse_located(shape: Shape | None, request: HttpRequest, labels: Mapping[str, str]) -> dict[str, Any]:
    """Members bound to the URI, the query string and headers."""
    out: dict[str, Any] = {}
    if shape is None:
        return out
    query = request.query_dict()
    for name, member in shape.members.items():
        loc = member.serialization.get("location")
        wire = member.serialization.get("name", name)
        if loc == "uri":
            if wire in labels:
                out[name] = from_text(member, labels[wire], name)
        elif loc == "querystring":
            if member.type_name == "map":
                out[name] = {k: (v if member.value.type_name == "list" else v[0])
                             for k, v in query.items() if not any(k == m.serialization.get("name")
                                                                   for m in shape.members.values())}
            elif wire in query:
                values = query[wire]
                if member.type_name == "list":
                    out[name] = [from_text(member.member, v, name) for v in values]
                else:
                    out[name] = from_text(member, values[0], name)
        elif loc == "header":
            if wire in request.headers:
                out[name] = _header_value(member, request.headers[wire], name)
        elif loc == "headers":
            prefix = wire.lower()
            found = {k[len(prefix):]: v for k, v in request.headers.items() if k.lower().startswith(prefix)}
            if found:
                out[name] = found
    return out


def _header_value(member: Shape, raw: str, name: str) -> Any:
    if member.type_name == "list":
        return [from_text(member.member, v.strip(), name) for v in raw.split(",")]
    if member.type_name == "string" and member.serialization.get("jsonvalue"):
        import base64
        import json

        try:
            return json.loads(base64.b64decode(raw))
        except ValueError as exc:
            raise ProtocolError(f"Header {name} is not base64-encoded JSON.") from exc
    if member.type_name == "timestamp":
        return from_text(member, raw, name)
    return from_text(member, raw, name)


def serialize_located(shape: Shape | None, result: Mapping[str, Any]) -> tuple[dict[str, str], int | None]:
    """Output members bound to headers and the status code."""
    headers: dict[str, str] = {}
    status: int | None = None
    if shape is None:
        return headers, status
    for name, member in shape.members.items():
        value = result.get(name)
        if value is None:
            continue
        loc = member.serialization.get("location")
        wire = member.serialization.get("name", name)
        if loc == "header":
            if member.type_name == "list":
                headers[wire] = ",".join(to_text(member.member, v) for v in value)
            elif member.serialization.get("jsonvalue"):
                import base64
                import json

                headers[wire] = base64.b64encode(json.dumps(value).encode()).decode()
            else:
                headers[wire] = to_text(member, value, "rfc822")
        elif loc == "headers":
            for k, v in value.items():
                headers[f"{wire}{k}"] = str(v)
        elif loc == "statusCode":
            status = int(value)
    return headers, status


def payload_member(shape: Shape | None) -> tuple[str, Shape] | None:
    if shape is None:
        return None
    name = shape.serialization.get("payload")
    if not name:
        return None
    return name, shape.members[name]


def body_members(shape: Shape) -> dict[str, Shape]:
    return {n: m for n, m in shape.members.items() if not m.serialization.get("location")}
