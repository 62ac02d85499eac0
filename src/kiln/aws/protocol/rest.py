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
    optional_located: tuple[tuple[str, str], ...]  # the same for optional ones: they break ties
    literal_chars: int
    deprecated: bool  # loses to a current operation with the same wire form (GetBucketLifecycle)
    host_prefixed: bool  # labels travel in the host name, so the path is never virtual-host rewritten


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
    optional: list[tuple[str, str]] = []
    shape = operation.input_shape
    if shape is not None:
        for name, member in shape.members.items():
            loc = member.serialization.get("location")
            if loc in ("header", "querystring") and member.type_name != "map":
                wire = (loc, member.serialization.get("name", name))
                (required if name in shape.required_members else optional).append(wire)
    return Route(operation, operation.http["method"], re.compile(f"^{regex}$", re.DOTALL), tuple(lits),
                 tuple(required), tuple(optional), literal, bool(operation.deprecated),
                 bool((operation.endpoint or {}).get("hostPrefix")))


@cache
def routes(service: ServiceModel) -> dict[str, tuple[Route, ...]]:
    """The service's routes by HTTP method."""
    out: dict[str, list[Route]] = {}
    for name in service.operation_names:
        route = _compile(service.operation_model(name))
        out.setdefault(route.method, []).append(route)
    return {method: tuple(rs) for method, rs in out.items()}


def _present(located: tuple[tuple[str, str], ...], request: HttpRequest, query: dict[str, list[str]]) -> int:
    return sum(1 for loc, wire in located
               if (loc == "header" and wire in request.headers) or (loc == "querystring" and wire in query))


def find_operation(service: ServiceModel, request: HttpRequest) -> tuple[OperationModel, dict[str, str]]:
    """The best route for the request: path and literal query must match, and every required
    header/querystring member must be present. Ties go to the route with the most literal query
    keys, then the most required header/querystring members, then the longest literal path, then a
    current (not deprecated) operation, then the one whose optional header/querystring members the
    request carries most of."""
    query = request.query_dict()
    path = request.path
    best: tuple[tuple[int, int, int, bool, int], Route, dict[str, str]] | None = None
    x_id = query.get("x-id", [None])[0]
    for route in routes(service).get(request.method, ()):
        if x_id and route.operation.name != x_id:
            continue
        m = route.pattern.match(request.sent_path if route.host_prefixed and request.sent_path else path)
        if not m:
            continue
        if any(k not in query or (v is not None and v not in query[k]) for k, v in route.literal_query):
            continue
        if _present(route.required_located, request, query) < len(route.required_located):
            continue
        score = (len(route.literal_query), len(route.required_located), route.literal_chars,
                 not route.deprecated, _present(route.optional_located, request, query))
        if best is None or score > best[0]:
            best = (score, route, {k: unquote(v) for k, v in m.groupdict().items()})
    if best is None:
        raise errors.UnknownOperationException(
            f"No operation of service {service.service_name} matches {request.method} {path}.")
    return best[1].operation, best[2]


def _reserved_query(operation: OperationModel) -> frozenset[str]:
    """Query keys a querystring map must not swallow: literal keys of the URI and named members."""
    keys = {item.partition("=")[0] for item in operation.http["requestUri"].partition("?")[2].split("&")}
    keys.add("x-id")
    shape = operation.input_shape
    if shape is not None:
        keys.update(m.serialization.get("name", n) for n, m in shape.members.items()
                    if m.serialization.get("location") == "querystring" and m.type_name != "map")
    return frozenset(keys)


def parse_located(operation: OperationModel, request: HttpRequest) -> dict[str, Any]:
    """Members bound to the URI (`request.labels`), the query string and headers."""
    out: dict[str, Any] = {}
    shape = operation.input_shape
    if shape is None:
        return out
    labels = request.labels
    query = request.query_dict()
    for name, member in shape.members.items():
        loc = member.serialization.get("location")
        wire = member.serialization.get("name", name)
        if loc == "uri":
            if wire in labels:
                out[name] = from_text(member, labels[wire], name)
        elif loc == "querystring":
            if member.type_name == "map":
                reserved = _reserved_query(operation)
                found = {k: _query_map_value(member.value, v, name) for k, v in query.items() if k not in reserved}
                if found:
                    out[name] = found
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


def _query_map_value(shape: Shape, values: list[str], name: str) -> Any:
    if shape.type_name == "list":
        return [from_text(shape.member, v, name) for v in values]
    return from_text(shape, values[0], name)


def split_header_list(raw: str) -> list[str]:
    """A comma-separated header list; items with commas or quotes come double-quoted (RFC 7230)."""
    items: list[str] = []
    i, n = 0, len(raw)
    while i < n:
        while i < n and raw[i] in " \t":
            i += 1
        if i < n and raw[i] == '"':
            i += 1
            buf: list[str] = []
            while i < n and raw[i] != '"':
                if raw[i] == "\\" and i + 1 < n:
                    i += 1
                buf.append(raw[i])
                i += 1
            items.append("".join(buf))
            i = raw.find(",", i)
            i = n if i < 0 else i + 1
        else:
            j = raw.find(",", i)
            j = n if j < 0 else j
            items.append(raw[i:j].strip())
            i = j + 1
    return items


def _header_value(member: Shape, raw: str, name: str) -> Any:
    if member.type_name == "list":
        return [from_text(member.member, v, name) for v in split_header_list(raw)]
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
