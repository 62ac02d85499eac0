"""botocore's side of the wire, for round-trip tests: its serializer builds requests, its parsers
read responses; `normalise` makes both sides comparable."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit
from xml.etree import ElementTree

from botocore.awsrequest import create_request_object, prepare_request_dict
from botocore.model import OperationModel, ServiceModel, Shape
from botocore.parsers import create_parser
from botocore.response import StreamingBody
from botocore.serialize import create_serializer
from starlette.datastructures import Headers

from kiln.aws import routing
from kiln.aws.gateway import CODECS, protocol_for
from kiln.aws.protocol.common import HttpResponse
from kiln.aws.specs import SERVICES, service_model

ENDPOINT = "http://localhost:8437"
REGION = "us-east-1"
KILN_PROTOCOLS = ("json", "rest-json", "rest-xml", "query")


def service_protocols() -> list[tuple[str, str]]:
    """(service, protocol) for every protocol of every service Kiln serves (cloudwatch: json and query)."""
    out = []
    for name in SERVICES:
        model = service_model(name)
        for protocol in model.metadata.get("protocols") or [model.protocol]:
            if protocol in KILN_PROTOCOLS:
                out.append((name, protocol))
    return out


def content_type(protocol: str, model: ServiceModel) -> str:
    if protocol == "json":
        return f"application/x-amz-json-{model.metadata.get('jsonVersion', '1.0')}"
    if protocol == "query":
        return "application/x-www-form-urlencoded; charset=utf-8"
    return ""


def botocore_request(protocol: str, operation: OperationModel, params: dict[str, Any]) -> routing.Routed:
    """What a boto3 client would send for `params`, routed the way Kiln's gateway routes it."""
    model = operation.service_model
    serializer = create_serializer(protocol, include_validation=False)
    request_dict = serializer.serialize_to_request(params, operation)
    prepare_request_dict(request_dict, endpoint_url=ENDPOINT)
    prepared = create_request_object(request_dict).prepare()
    url = urlsplit(prepared.url)
    signing = model.signing_name or model.endpoint_prefix
    raw: list[tuple[bytes, bytes]] = [(b"host", url.netloc.encode())]
    raw += [(k.lower().encode("latin-1"), (v if isinstance(v, bytes) else str(v).encode("latin-1")))
            for k, v in prepared.headers.items()]
    raw.append((b"authorization", f"AWS4-HMAC-SHA256 Credential=kiln/20240101/{REGION}/{signing}/"
                                  "aws4_request, SignedHeaders=host, Signature=00".encode()))
    headers = Headers(raw=raw)
    if protocol in ("json", "query") and "content-type" not in headers:
        raw.append((b"content-type", content_type(protocol, model).encode()))
        headers = Headers(raw=raw)
    routed = routing.route(prepared.method, url.path or "/", url.query, headers, ("localhost",))
    body = prepared.body
    if body is None:
        body = b""
    elif isinstance(body, str):
        body = body.encode()
    elif not isinstance(body, bytes):
        body = body.read()
    routed.request.body = body
    return routed


def wire_twin(operation: OperationModel, routed_to: str, *, bare: bool = False) -> bool:
    """A deprecated operation whose request is indistinguishable from a current one's (S3's
    GetBucketLifecycle / GetBucketLifecycleConfiguration) is served by the current one; so is a
    bare request (no optional members) that two operations share (S3's `GET /`: ListBuckets and
    ListDirectoryBuckets)."""
    service, _, name = routed_to.partition(":")
    if not (operation.deprecated or bare) or service != operation.service_model.service_name:
        return False
    twin = operation.service_model.operation_model(name)
    return not twin.deprecated and twin.http == operation.http


def current_twin(operation: OperationModel) -> str | None:
    """The current operation that serves this deprecated one's requests, if any."""
    if not operation.deprecated:
        return None
    model = operation.service_model
    for name in model.operation_names:
        if name != operation.name and wire_twin(operation, f"{model.service_name}:{name}"):
            return name
    return None


def kiln_codec(service: str, headers: Any) -> Any:
    return CODECS[protocol_for(service_model(service), headers.get("content-type", ""))]


def botocore_parse(protocol: str, operation: OperationModel, response: HttpResponse) -> dict[str, Any]:
    body = response.body
    if not isinstance(body, bytes | bytearray):
        body = b"".join(body)  # type: ignore[arg-type]
    raw = bytes(body)
    streamed = operation.has_streaming_output and response.status < 300
    http = {"status_code": response.status, "headers": http_headers(response.headers),
            "body": StreamingBody(io.BytesIO(raw), len(raw)) if streamed else raw}
    parsed = create_parser(protocol).parse(http, operation.output_shape)
    if operation.name == "GetBucketLocation" and response.status < 300:
        # boto3 reads this one body itself (botocore.handlers.parse_get_bucket_location)
        parsed["LocationConstraint"] = ElementTree.fromstring(raw).text
    return parsed


def http_headers(headers: dict[str, str]) -> Any:
    from botocore.awsrequest import HeadersDict

    out = HeadersDict()
    for k, v in headers.items():
        out[k] = v
    return out


def drop_empty_structures(shape: Shape | None, value: Any) -> Any:
    """The query protocol cannot send a structure with no members set; it arrives absent."""
    if shape is None or not isinstance(value, dict | list):
        return value
    if shape.type_name == "list" and isinstance(value, list):
        return [drop_empty_structures(shape.member, v) for v in value]
    if shape.type_name == "map" and isinstance(value, dict):
        return {k: drop_empty_structures(shape.value, v) for k, v in value.items()}
    if shape.type_name != "structure" or not isinstance(value, dict):
        return value
    out = {}
    for k, v in value.items():
        member = shape.members.get(k)
        v = drop_empty_structures(member, v)
        if not (member is not None and member.type_name == "structure" and v == {}) \
                or k in shape.required_members:
            out[k] = v
    return out


def normalise(shape: Shape | None, value: Any) -> Any:
    """Values as comparable plain data: datetimes in UTC, blobs as bytes, strings unchanged."""
    if shape is None or value is None:
        return value
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict) or shape.is_document_type:
            return value
        return {k: normalise(shape.members.get(k), v) for k, v in value.items()
                if v is not None and k != "ResponseMetadata"}
    if kind == "list" and isinstance(value, list):
        return [normalise(shape.member, v) for v in value]
    if kind == "map" and isinstance(value, dict):
        return {k: normalise(shape.value, v) for k, v in value.items()}
    if kind == "timestamp":
        if isinstance(value, datetime):
            return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        return value
    if kind == "blob":
        if isinstance(value, str):
            return value.encode()
        if hasattr(value, "read"):
            return value.read()
        return bytes(value) if isinstance(value, bytes | bytearray | memoryview) else value
    if kind in ("float", "double") and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return value


def diff(expected: Any, actual: Any, path: str = "", *, allow_empty: bool = False) -> Iterator[str]:
    """Human-readable differences between two normalised values. With `allow_empty`, a member the
    expected value lacks may come back empty (botocore reads an absent payload or header map as
    `{}` / `b''`)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in sorted(set(expected) | set(actual), key=str):
            if key not in actual:
                yield f"{path}.{key}: missing (expected {_short(expected[key])})"
            elif key not in expected:
                if not (allow_empty and actual[key] in ({}, [], b"", "")):
                    yield f"{path}.{key}: unexpected {_short(actual[key])}"
            else:
                yield from diff(expected[key], actual[key], f"{path}.{key}", allow_empty=allow_empty)
    elif isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            yield from diff(e, a, f"{path}[{i}]", allow_empty=allow_empty)
    elif expected != actual:
        yield f"{path}: expected {_short(expected)}, got {_short(actual)}"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) < 120 else text[:117] + "..."


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
