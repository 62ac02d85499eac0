"""botocore's serializer -> Kiln's routing and parser, for every operation of every service Kiln serves.

For each operation an input with every member filled (`shapegen.example`) is serialized by botocore
exactly as a boto3 client would send it, routed by `kiln.aws.routing.route`, matched by the codec's
`find_operation` and parsed by its `parse`; the parsed params must equal the input. Streaming
payloads must be handed through as the stream, untouched. One test per (service, protocol) reports
every failing operation.
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.model import OperationModel
from botowire import (
    botocore_request,
    diff,
    drop_empty_structures,
    kiln_codec,
    normalise,
    service_protocols,
    wire_twin,
)
from shapegen import Options, example

from kiln.aws import validate
from kiln.aws.protocol.common import HttpRequest
from kiln.aws.specs import service_model

STREAM = object()  # stands in for the gateway's BodyStream


def _input(operation: OperationModel, minimal: bool) -> dict[str, Any]:
    shape = operation.input_shape
    return example(shape, operation.name, opts=Options(required_only=minimal)) if shape is not None else {}


def _parse(service: str, protocol: str, operation: OperationModel,
           params: dict[str, Any]) -> tuple[str, HttpRequest, dict[str, Any]]:
    routed = botocore_request(protocol, operation, params)
    request = routed.request
    codec = kiln_codec(routed.service, request.headers)
    found = codec.find_operation(service_model(routed.service), request)
    if routed.service != service or found.name != operation.name:
        return f"{routed.service}:{found.name}", request, {}
    if codec.streams_input(found):  # the gateway hands the unread body to the handler
        request.stream = STREAM  # type: ignore[assignment]
        request.body = b""
    return f"{routed.service}:{found.name}", request, codec.parse(found, request)


def _expected(operation: OperationModel, params: dict[str, Any]) -> dict[str, Any]:
    shape = operation.input_shape
    out = normalise(shape, params)
    if shape is None:
        return out
    payload = shape.serialization.get("payload")
    if payload and operation.has_streaming_input:
        out[payload] = STREAM
    return out


def _content_length_members(operation: OperationModel) -> list[str]:
    shape = operation.input_shape
    if shape is None:
        return []
    return [n for n, m in shape.members.items() if m.serialization.get("location") == "header"
            and m.serialization.get("name", "").lower() == "content-length"]


def check(service: str, protocol: str, name: str, minimal: bool = False) -> list[str]:
    operation = service_model(service).operation_model(name)
    params = _input(operation, minimal)
    try:
        routed_to, _, parsed = _parse(service, protocol, operation, params)
    except Exception as exc:
        return [f"{name}: {type(exc).__name__}: {exc}"]
    if routed_to != f"{service}:{name}":
        if wire_twin(operation, routed_to, bare=minimal):
            return []
        return [f"{name}: routed to {routed_to}"]
    actual = normalise(operation.input_shape, parsed)
    expected = _expected(operation, params)
    if protocol == "query":
        expected = drop_empty_structures(operation.input_shape, expected)
    for member in _content_length_members(operation):  # the HTTP layer always sends Content-Length
        if member not in expected:
            actual.pop(member, None)
    problems = [f"{name}: {d}" for d in diff(expected, actual)]
    if not problems:
        problems += [f"{name}: generated input fails validation: {v}"
                     for v in validate.collect(operation.input_shape, parsed)]
    return problems


@pytest.mark.parametrize(("service", "protocol"), service_protocols(),
                         ids=[f"{s}-{p}" for s, p in service_protocols()])
def test_every_operation_parses_what_botocore_sends(service: str, protocol: str) -> None:
    model = service_model(service)
    failures: list[str] = []
    for name in model.operation_names:
        failures += check(service, protocol, name)
        failures += [f"{f} (required members only)" for f in check(service, protocol, name, minimal=True)]
    assert not failures, f"{len(failures)} problem(s) in {service} ({protocol}):\n" + "\n".join(failures)
