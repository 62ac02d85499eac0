"""Error answers, per protocol, as boto3 reads them: the server's own validation (clients built with
`parameter_validation=False`), malformed bodies, unknown operations, unimplemented operations,
garbage to S3, and Kiln's own bugs (500 `InternalFailure`, no traceback on the wire).

The live platform (`aws_client`) covers what it implements; a dedicated in-process gateway with
throwaway providers covers handler failures and services whose providers may not exist yet.
"""

from __future__ import annotations

import gzip
import http.client
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
import uvicorn
from botocore import xform_name
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import ACCOUNT, REGION, LiveServer, free_port
from kiln.aws.context import RequestContext
from kiln.aws.dispatch import DispatchTable, Provider, operation
from kiln.aws.gateway import Gateway
from kiln.aws.specs import service_model
from kiln.core import errors as domain

SECRET = "secret-detail-that-must-not-leak"


def _auth(service: str) -> str:
    return (f"AWS4-HMAC-SHA256 Credential=kiln/20240101/{REGION}/{service}/aws4_request, "
            "SignedHeaders=host, Signature=00")


def raw(port: int, method: str, path: str, body: bytes = b"", **headers: str) -> tuple[int, dict[str, str], bytes]:
    """One request over a plain HTTP connection: what a broken or hostile client could send."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers={k.replace("_", "-"): v for k, v in headers.items()})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def _code(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    err = exc.value.response
    return err["Error"]["Code"], err["Error"].get("Message", ""), err["ResponseMetadata"]["HTTPStatusCode"]


# ------------------------------------------------------------------------------ the live platform


@pytest.fixture(scope="module")
def sm(aws_client: Callable[..., Any]) -> Any:
    return aws_client("sagemaker", parameter_validation=False)


def test_sagemaker_validation_exception_names_member_and_pattern(sm: Any) -> None:
    pattern = service_model("sagemaker").shape_for("TrainingJobName").metadata["pattern"]
    with pytest.raises(ClientError) as exc:
        sm.describe_training_job(TrainingJobName="bad name!")
    assert _code(exc) == ("ValidationException", "1 validation error detected: Value 'bad name!' at "
                          "'trainingJobName' failed to satisfy constraint: Member must satisfy regular "
                          f"expression pattern: {pattern}", 400)


def test_sagemaker_missing_required_members(sm: Any) -> None:
    with pytest.raises(ClientError) as exc:
        sm.create_training_job(TrainingJobName="no-spec")
    code, message, status = _code(exc)
    assert (code, status) == ("ValidationException", 400)
    assert message.split(" ", 1)[1].startswith("validation errors detected: Value null at ")
    assert "Value null at 'roleArn' failed to satisfy constraint: Member must not be null" in message


def test_wrong_json_type_is_a_400_serialization_error(sm: Any) -> None:
    with pytest.raises(ClientError) as exc:
        sm.describe_training_job(TrainingJobName=5)
    code, message, status = _code(exc)
    assert (code, status) == ("SerializationException", 400)
    assert "trainingJobName" in message


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b"\xff\xfe", b'{"MaxResults": "ten"}'])
def test_malformed_json_bodies_are_400_never_500(kiln_server: LiveServer, body: bytes) -> None:
    status, headers, payload = raw(kiln_server.port, "POST", "/", body, Authorization=_auth("sagemaker"),
                                   X_Amz_Target="SageMaker.ListTrainingJobs",
                                   Content_Type="application/x-amz-json-1.1")
    assert status == 400
    assert headers["x-amzn-errortype"] == "SerializationException"
    assert json.loads(payload)["__type"] == "SerializationException"


def test_unknown_target_operation(kiln_server: LiveServer) -> None:
    status, _headers, payload = raw(kiln_server.port, "POST", "/", b"{}", Authorization=_auth("sagemaker"),
                                   X_Amz_Target="SageMaker.NoSuchThing",
                                   Content_Type="application/x-amz-json-1.1")
    assert status == 400
    doc = json.loads(payload)
    assert doc["__type"] == "UnknownOperationException"
    assert "NoSuchThing" in doc["message"]


def test_query_missing_and_invalid_action(kiln_server: LiveServer) -> None:
    form = "application/x-www-form-urlencoded; charset=utf-8"
    status, _, payload = raw(kiln_server.port, "POST", "/", b"Version=2011-06-15", Authorization=_auth("sts"),
                             Content_Type=form)
    assert status == 400
    assert b"<Code>MissingAction</Code>" in payload and b"<Type>Sender</Type>" in payload
    status, _, payload = raw(kiln_server.port, "POST", "/", b"Action=Nope&Version=2011-06-15",
                             Authorization=_auth("sts"), Content_Type=form)
    assert status == 400
    assert b"<Code>InvalidAction</Code>" in payload and b"Nope" in payload


def test_not_implemented_operation_names_operation_and_service(kiln_server: LiveServer, sm: Any) -> None:
    table = kiln_server.app.gateway.table
    name = next(op for op in sorted(service_model("sagemaker").operation_names)
                if table.get("sagemaker", op) is None)
    with pytest.raises(ClientError) as exc:
        getattr(sm, xform_name(name))()
    code, message, status = _code(exc)
    assert (code, status) == ("NotImplemented", 501)
    assert name in message and "sagemaker" in message


@pytest.fixture(scope="module")
def bucket(aws_client: Callable[..., Any]) -> Iterator[str]:
    s3 = aws_client("s3")
    name = f"kiln-errors-{int(time.time() * 1000) % 10**9}"
    s3.create_bucket(Bucket=name)
    yield name
    s3.delete_bucket(Bucket=name)


def test_s3_malformed_xml(kiln_server: LiveServer, bucket: str) -> None:
    status, _, payload = raw(kiln_server.port, "POST", f"/{bucket}?delete", b"<Delete><Object>",
                             Authorization=_auth("s3"))
    assert status == 400
    assert b"<Code>MalformedXML</Code>" in payload


def test_s3_unreadable_query_value(aws_client: Callable[..., Any], kiln_server: LiveServer, bucket: str) -> None:
    status, _, payload = raw(kiln_server.port, "GET", f"/{bucket}?list-type=2&max-keys=many",
                             Authorization=_auth("s3"))
    assert status == 400
    assert b"<Code>InvalidArgument</Code>" in payload


@pytest.mark.parametrize(("method", "path", "body"), [
    ("PATCH", "/some-bucket", b""),
    ("POST", "/", b"\x00\x01garbage\xff"),
    ("GET", "/%zz/%%", b""),
    ("PUT", "/b/" + "k" * 2000, b"x"),
])
def test_s3_garbage_is_answered_as_an_s3_error_not_a_crash(kiln_server: LiveServer, method: str, path: str,
                                                           body: bytes) -> None:
    status, headers, payload = raw(kiln_server.port, method, path, body)
    assert 400 <= status < 500, (status, payload)
    assert payload.startswith(b"<?xml") and b"<Error>" in payload
    assert "x-amz-request-id" in headers


# --------------------------------------------------------------- a gateway with throwaway providers


class Boom(Provider):
    service = "sagemaker"

    @operation("ListTrainingJobs")
    def list_training_jobs(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError(SECRET)

    @operation("DescribeTrainingJob")
    def describe_training_job(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        name = request["TrainingJobName"]
        raise domain.NotFound("Training job", name, f"Could not find training job {name}.")


class BoomRuntime(Provider):
    service = "sagemaker-runtime"

    @operation("InvokeEndpoint")
    async def invoke_endpoint(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        body = b"".join([chunk async for chunk in request["Body"]])
        if body == b"boom":
            raise KeyError(SECRET)
        return {"Body": body[::-1], "ContentType": "text/plain"}


class BoomSts(Provider):
    service = "sts"

    @operation("GetCallerIdentity")
    def get_caller_identity(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        raise ValueError(SECRET)


class BoomS3(Provider):
    service = "s3"

    @operation("GetObject")
    def get_object(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        raise ZeroDivisionError(SECRET)

    @operation("HeadObject")
    def head_object(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        raise ZeroDivisionError(SECRET)


class GatewayServer:
    """A bare gateway (no platform) on a free loopback port."""

    def __init__(self, providers: list[Provider]) -> None:
        self.port = free_port()
        app = Gateway(DispatchTable(providers), ACCOUNT, REGION)
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> GatewayServer:
        self.thread.start()
        deadline = time.time() + 30
        while not self.server.started:
            assert time.time() < deadline and self.thread.is_alive(), "gateway did not start"
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=f"http://127.0.0.1:{self.port}", region_name=REGION,
                            aws_access_key_id="kiln", aws_secret_access_key="kiln",
                            config=Config(retries={"max_attempts": 1, "mode": "standard"},
                                          parameter_validation=False))


@pytest.fixture(scope="module")
def boom() -> Iterator[GatewayServer]:
    with GatewayServer([Boom(), BoomRuntime(), BoomSts(), BoomS3()]) as server:
        yield server


def _no_leak(exc: pytest.ExceptionInfo[ClientError]) -> None:
    text = json.dumps(exc.value.response, default=str)
    assert SECRET not in text and "Traceback" not in text


def test_handler_bug_is_a_500_internal_failure_without_traceback(boom: GatewayServer,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="kiln.aws.gateway"), pytest.raises(ClientError) as exc:
        boom.client("sagemaker").list_training_jobs()
    code, _message, status = _code(exc)
    assert (code, status) == ("InternalFailure", 500)
    _no_leak(exc)
    assert any(SECRET in (r.exc_text or "") or (r.exc_info and SECRET in str(r.exc_info[1]))
               for r in caplog.records), "the traceback is logged on the server"


@pytest.mark.parametrize("service", ["sts", "s3", "sagemaker-runtime"])
def test_handler_bugs_in_every_protocol(boom: GatewayServer, service: str) -> None:
    client = boom.client(service)
    call = {"sts": lambda: client.get_caller_identity(),
            "s3": lambda: client.get_object(Bucket="b", Key="k"),
            "sagemaker-runtime": lambda: client.invoke_endpoint(EndpointName="ep", Body=b"boom")}[service]
    with pytest.raises(ClientError) as exc:
        call()
    assert _code(exc)[2] == 500
    assert _code(exc)[0] == "InternalFailure"
    _no_leak(exc)


def test_s3_head_bug_is_a_bodiless_500(boom: GatewayServer) -> None:
    with pytest.raises(ClientError) as exc:
        boom.client("s3").head_object(Bucket="b", Key="k")
    assert _code(exc)[:1] == ("500",) and _code(exc)[2] == 500


def test_domain_errors_map_through_the_provider(boom: GatewayServer) -> None:
    with pytest.raises(ClientError) as exc:
        boom.client("sagemaker").describe_training_job(TrainingJobName="missing")
    assert _code(exc) == ("ResourceNotFound", "Could not find training job missing.", 400)


def test_runtime_validation_error_is_spelled_validation_error(boom: GatewayServer) -> None:
    with pytest.raises(ClientError) as exc:
        boom.client("sagemaker-runtime").invoke_endpoint(EndpointName="bad name!", Body=b"x")
    code, message, status = _code(exc)
    assert (code, status) == ("ValidationError", 400)
    assert message.startswith("1 validation error detected: Value 'bad name!' at 'endpointName'")


def test_runtime_streams_through(boom: GatewayServer) -> None:
    out = boom.client("sagemaker-runtime").invoke_endpoint(EndpointName="ep", Body=b"abc")
    assert out["Body"].read() == b"cba"


# ------------------------------------------------------------------------------ compressed requests


def test_gzip_request_bodies_are_decoded(kiln_server: LiveServer) -> None:
    """botocore gzips bodies of operations with the requestcompression trait (PutMetricData > 10 KiB)."""
    body = gzip.compress(b"Action=GetCallerIdentity&Version=2011-06-15")
    status, _, payload = raw(kiln_server.port, "POST", "/", body, Authorization=_auth("sts"),
                             Content_Type="application/x-www-form-urlencoded; charset=utf-8", Content_Encoding="gzip")
    assert status == 200 and b"<Account>" in payload


def test_broken_gzip_is_a_400(kiln_server: LiveServer) -> None:
    status, headers, _ = raw(kiln_server.port, "POST", "/", b"\x1f\x8bnot really", Authorization=_auth("sagemaker"),
                             X_Amz_Target="SageMaker.ListTrainingJobs", Content_Type="application/x-amz-json-1.1",
                             Content_Encoding="gzip")
    assert status == 400 and headers["x-amzn-errortype"] == "SerializationException"


def test_gzip_bombs_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from kiln.aws import gateway

    monkeypatch.setattr(gateway, "MAX_BUFFERED_BODY", 1024)
    with pytest.raises(Exception) as exc:
        gateway.gunzip(gzip.compress(b"0" * 10_000))
    assert getattr(exc.value, "status", None) == 413


def test_clients_of_unserved_services_get_a_clear_501(aws_client: Callable[..., Any]) -> None:
    with pytest.raises(ClientError) as exc:
        aws_client("dynamodb").list_tables()
    code, message, status = _code(exc)
    assert (code, status) == ("NotImplemented", 501)
    assert "dynamodb" in message and "sagemaker" in message
