"""Kiln's serializer -> botocore's parser, for every operation with an output, and for errors.

For each operation an output with every member filled (`shapegen.example`) is serialized by the
codec Kiln would answer with and parsed by botocore's own parser for that protocol; the parsed
result must equal the output. Errors: `serialize_error` for each protocol must give botocore the
right `Error.Code`, `Error.Message` and HTTP status (S3 HEAD: a bodiless 404 reads as code "404").
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.model import OperationModel
from botocore.parsers import create_parser
from botowire import botocore_parse, current_twin, diff, http_headers, normalise, service_protocols
from shapegen import Options, example

from kiln.aws import errors
from kiln.aws.context import RequestContext
from kiln.aws.gateway import CODECS
from kiln.aws.specs import service_model
from kiln.core.scope import Scope

CTX = RequestContext("test", "", Scope("123456789012", "us-east-1"), "req-0001")

# Outputs that are event streams: Kiln's codecs have no event-stream encoder yet.
EVENT_STREAMS = "event stream output"


def _output(operation: OperationModel, minimal: bool) -> dict[str, Any]:
    shape = operation.output_shape
    out = example(shape, operation.name + "Output", opts=Options(required_only=minimal))
    for name, member in shape.members.items():
        if member.serialization.get("location") == "statusCode":
            out[name] = 203  # any real status; botocore reads it back from the status line
    return out


def check(service: str, protocol: str, name: str, minimal: bool = False) -> list[str]:
    operation = service_model(service).operation_model(name)
    if operation.output_shape is None or operation.has_event_stream_output:
        return []
    if current_twin(operation):  # never answered: its requests are served by the current twin
        return []
    result = _output(operation, minimal)
    try:
        response = CODECS[protocol].serialize(operation, result, CTX)
        parsed = botocore_parse(protocol, operation, response)
    except Exception as exc:
        return [f"{name}: {type(exc).__name__}: {exc}"]
    expected = normalise(operation.output_shape, result)
    actual = normalise(operation.output_shape, parsed)
    return [f"{name}: {d}" for d in diff(expected, actual, allow_empty=True)]


@pytest.mark.parametrize(("service", "protocol"), service_protocols(),
                         ids=[f"{s}-{p}" for s, p in service_protocols()])
def test_botocore_parses_every_output_kiln_serializes(service: str, protocol: str) -> None:
    failures: list[str] = []
    for name in service_model(service).operation_names:
        failures += check(service, protocol, name)
        failures += [f"{f} (required members only)" for f in check(service, protocol, name, minimal=True)]
    assert not failures, f"{len(failures)} problem(s) in {service} ({protocol}):\n" + "\n".join(failures)


def _error_case(service: str, protocol: str, operation: str, err: errors.AwsError) -> tuple[dict[str, Any], int]:
    model = service_model(service)
    op = model.operation_model(operation)
    response = CODECS[protocol].serialize_error(model, op, err, CTX)
    parsed = botocore_parse(protocol, op, response)
    return parsed, response.status


ERROR_CASES = [
    ("sagemaker", "json", "DescribeTrainingJob", errors.ResourceNotFound("Requested resource not found.")),
    ("sagemaker", "json", "CreateTrainingJob", errors.ValidationException("1 validation error detected")),
    ("sagemaker-runtime", "rest-json", "InvokeEndpoint", errors.ValidationError("Endpoint x not found.")),
    ("sagemaker-featurestore-runtime", "rest-json", "GetRecord",
     errors.error("ResourceNotFound")("Feature group not found")),
    ("sagemaker-metrics", "rest-json", "BatchPutMetrics", errors.InternalFailure("boom")),
    ("logs", "json", "GetLogEvents", errors.ResourceNotFoundException("The specified log group does not exist.")),
    ("sts", "query", "GetCallerIdentity", errors.InternalFailure("We encountered an internal error.")),
    ("iam", "query", "GetRole", errors.error("NoSuchEntity", 404)("The role with name x cannot be found.")),
    ("cloudwatch", "query", "GetMetricData", errors.error("InvalidParameterValue")("bad period")),
    ("cloudwatch", "json", "GetMetricData", errors.error("InvalidParameterValue")("bad period")),
    ("s3", "rest-xml", "GetObject", errors.error("NoSuchKey", 404)("The specified key does not exist.")),
    ("s3", "rest-xml", "CreateBucket", errors.error("BucketAlreadyOwnedByYou", 409)("Your previous request ...")),
    ("athena", "json", "GetQueryExecution", errors.error("InvalidRequestException")("bad query id")),
    ("events", "json", "PutRule", errors.NotImplementedOperation("Operation PutRule of service events ...")),
]


@pytest.mark.parametrize(("service", "protocol", "operation", "err"), ERROR_CASES,
                         ids=[f"{c[0]}-{c[1]}-{c[3].code}" for c in ERROR_CASES])
def test_botocore_reads_kiln_errors(service: str, protocol: str, operation: str, err: errors.AwsError) -> None:
    parsed, status = _error_case(service, protocol, operation, err)
    assert status == err.status
    assert parsed["Error"]["Code"] == err.code
    assert parsed["Error"]["Message"] == err.message
    assert parsed["ResponseMetadata"]["HTTPStatusCode"] == err.status


@pytest.mark.parametrize("operation", ["HeadObject", "HeadBucket"])
def test_s3_head_errors_are_bodiless_and_read_as_the_status(operation: str) -> None:
    parsed, status = _error_case("s3", "rest-xml", operation, errors.error("NoSuchKey", 404)("Not Found"))
    assert status == 404
    assert parsed["Error"]["Code"] == "404"
    assert parsed["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_without_operation_errors_still_serialize() -> None:
    """Routing errors happen before an operation is known (unknown target, missing Action)."""
    for protocol, service in (("json", "sagemaker"), ("rest-json", "sagemaker-runtime"),
                              ("rest-xml", "s3"), ("query", "sts")):
        model = service_model(service)
        err = errors.UnknownOperationException("nope")
        response = CODECS[protocol].serialize_error(model, None, err, CTX)
        op = model.operation_model(model.operation_names[0])
        parsed = botocore_parse(protocol, op, response)
        assert parsed["Error"]["Code"] == "UnknownOperationException", protocol
        assert response.status == 404


def _modeled_errors(service: str) -> list[tuple[OperationModel, Any]]:
    """Every error shape the service's operations declare, with one non-HEAD operation declaring it."""
    model = service_model(service)
    found: dict[str, tuple[OperationModel, Any]] = {}
    for name in model.operation_names:
        op = model.operation_model(name)
        if op.http.get("method") == "HEAD":
            continue
        for shape in op.error_shapes:
            found.setdefault(shape.name, (op, shape))
    return [found[k] for k in sorted(found)]


def check_modeled_error(service: str, protocol: str, op: OperationModel, shape: Any) -> list[str]:
    message_members = {"Message", "message"}
    fields = {k: v for k, v in example(shape, f"{shape.name}Error").items() if k not in message_members}
    status = shape.metadata.get("error", {}).get("httpStatusCode", 400)
    err = errors.error(shape.error_code, status)("it went wrong", fields=fields)
    response = CODECS[protocol].serialize_error(op.service_model, op, err, CTX)
    generic = botocore_parse(protocol, op, response)
    problems = []
    if (generic["Error"]["Code"], generic["Error"].get("Message")) != (shape.error_code, "it went wrong"):
        problems.append(f"{shape.name}: read as {generic['Error']}")
    # what botocore's endpoint does next (_add_modeled_error_fields): parse the body with the error shape
    body = response.body if isinstance(response.body, bytes) else b""
    http = {"status_code": response.status, "headers": http_headers(response.headers), "body": body}
    modeled = create_parser(protocol).parse(http, shape)
    actual = {k: v for k, v in normalise(shape, modeled).items() if k not in message_members}
    problems += [f"{shape.name}: {d}" for d in diff(normalise(shape, fields), actual, allow_empty=True)]
    return problems


@pytest.mark.parametrize(("service", "protocol"), service_protocols(),
                         ids=[f"{s}-{p}" for s, p in service_protocols()])
def test_modeled_error_fields_reach_botocore(service: str, protocol: str) -> None:
    failures: list[str] = []
    for op, shape in _modeled_errors(service):
        try:
            failures += check_modeled_error(service, protocol, op, shape)
        except Exception as exc:
            failures.append(f"{shape.name}: {type(exc).__name__}: {exc}")
    assert not failures, f"{len(failures)} problem(s) in {service} ({protocol}):\n" + "\n".join(failures)
