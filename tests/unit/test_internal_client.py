"""kiln.aws.internal.InternalClient: the HTTP path's validation and dispatch, in-process."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from kiln.aws import errors
from kiln.aws.context import RequestContext
from kiln.aws.dispatch import DispatchTable, Provider, operation
from kiln.aws.internal import InternalClient
from kiln.core import errors as domain
from kiln.services.identity.provider import IamProvider, StsProvider

ACCOUNT = "111122223333"


class Echo(Provider):
    """Throwaway sagemaker handlers that show what reached them."""

    service = "sagemaker"
    seen: list[tuple[RequestContext, dict[str, Any]]]

    def __init__(self) -> None:
        self.seen = []

    @operation("DescribeTrainingJob")
    def describe_training_job(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        self.seen.append((ctx, request))
        name = request["TrainingJobName"]
        if name == "missing":
            raise domain.NotFound("Training job", name)
        if name == "buggy":
            raise KeyError("oops")
        if name == "aws":
            raise errors.ResourceLimitExceeded("too many")
        return {"TrainingJobName": name, "TrainingJobArn": f"arn:aws:sagemaker:{ctx.scope.region}:"
                f"{ctx.scope.account_id}:training-job/{name}", "TrainingJobStatus": "InProgress",
                "CreationTime": 1_700_000_000, "NotInTheModel": "dropped", "FailureReason": None,
                "HyperParameters": {"a": "1"}, "ModelArtifacts": None}

    @operation("ListTrainingJobs")
    async def list_training_jobs(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(0)
        self.seen.append((ctx, request))
        return {"TrainingJobSummaries": []}

    @operation("AddTags")
    def add_tags(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        self.seen.append((ctx, request))
        return {"Tags": request["Tags"]}

    def domain_errors(self, err: domain.DomainError) -> errors.AwsError:
        if isinstance(err, domain.NotFound):
            return errors.ResourceNotFound(f"Requested resource not found: {err.name}")
        return super().domain_errors(err)


class Runtime(Provider):
    service = "sagemaker-runtime"

    @operation("InvokeEndpoint")
    async def invoke_endpoint(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        body = b"".join([chunk async for chunk in request["Body"]])
        return {"Body": body.upper(), "ContentType": request.get("ContentType", "")}


@pytest.fixture
def echo() -> Echo:
    return Echo()


@pytest.fixture
def client(echo: Echo) -> InternalClient:
    table = DispatchTable([StsProvider("KilnRole"), IamProvider(), echo, Runtime()])
    return InternalClient(table, ACCOUNT, "eu-central-1")


def test_identity_calls(client: InternalClient) -> None:
    me = client.call("sts", "GetCallerIdentity", {})
    assert me["Account"] == ACCOUNT
    assert me["Arn"].endswith(":assumed-role/KilnRole/kiln")
    role = client.call("iam", "GetRole", {"RoleName": "KilnRole"})["Role"]
    assert role["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/KilnRole"
    assert isinstance(role["CreateDate"], datetime) and role["CreateDate"].tzinfo is not None


def test_validation_is_the_wire_validation(client: InternalClient) -> None:
    with pytest.raises(errors.ValidationException) as exc:
        client.call("iam", "GetRole", {"RoleName": ""})
    assert exc.value.message == (
        "2 validation errors detected: Value '' at 'roleName' failed to satisfy constraint: Member must have "
        "length greater than or equal to 1; Value '' at 'roleName' failed to satisfy constraint: Member must "
        "satisfy regular expression pattern: [\\w+=,.@-]+")
    with pytest.raises(errors.ValidationException) as exc:
        client.call("iam", "GetRole", {})
    assert "Value null at 'roleName' failed to satisfy constraint: Member must not be null" in exc.value.message


def test_wrong_types_are_serialization_errors(client: InternalClient) -> None:
    with pytest.raises(errors.AwsError) as exc:
        client.call("iam", "GetRole", {"RoleName": 5})
    assert exc.value.code == "SerializationException" and exc.value.status == 400
    with pytest.raises(errors.AwsError) as exc:
        client.call("sagemaker", "AddTags", {"ResourceArn": "arn:aws:sagemaker:x", "Tags": {"Key": "k"}})
    assert exc.value.code == "SerializationException"


def test_runtime_validation_uses_its_own_code(client: InternalClient) -> None:
    with pytest.raises(errors.ValidationError):
        client.call("sagemaker-runtime", "InvokeEndpoint", {"EndpointName": "bad name!", "Body": b"x"})


def test_unknown_and_unimplemented_operations(client: InternalClient) -> None:
    with pytest.raises(errors.UnknownOperationException):
        client.call("iam", "NoSuchThing", {})
    with pytest.raises(errors.UnknownOperationException):
        client.call("dynamodb", "GetItem", {})
    with pytest.raises(errors.NotImplementedOperation) as exc:
        client.call("iam", "CreateRole", {"RoleName": "r", "AssumeRolePolicyDocument": "{}"})
    assert "CreateRole" in exc.value.message and "iam" in exc.value.message and exc.value.status == 501


def test_params_reach_the_handler_as_over_the_wire(client: InternalClient, echo: Echo) -> None:
    arn = "arn:aws:sagemaker:eu-central-1:111122223333:x"
    client.call("sagemaker", "AddTags", {"ResourceArn": arn,
                                         "Tags": ({"Key": "k", "Value": "v"},), "Unknown": 1})
    ctx, request = echo.seen[-1]
    assert request == {"ResourceArn": arn, "Tags": [{"Key": "k", "Value": "v"}]}
    assert (ctx.service, ctx.operation, ctx.scope.account_id, ctx.scope.region) == (
        "sagemaker", "AddTags", ACCOUNT, "eu-central-1")
    assert ctx.request_id


def test_timestamps_in_any_wire_form(client: InternalClient, echo: Echo) -> None:
    when = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    for value in (when, when.replace(tzinfo=None), when.timestamp(), "2024-01-02T03:04:05Z"):
        asyncio.run(client.acall("sagemaker", "ListTrainingJobs", {"CreationTimeAfter": value}))
        assert echo.seen[-1][1]["CreationTimeAfter"] == when


def test_region_override(client: InternalClient, echo: Echo) -> None:
    out = client.call("sagemaker", "DescribeTrainingJob", {"TrainingJobName": "j"}, region="ap-south-1")
    assert echo.seen[-1][0].scope.region == "ap-south-1"
    assert out["TrainingJobArn"].startswith("arn:aws:sagemaker:ap-south-1:")


def test_output_is_shaped_like_boto3(client: InternalClient) -> None:
    out = client.call("sagemaker", "DescribeTrainingJob", {"TrainingJobName": "j"})
    assert out["CreationTime"] == datetime.fromtimestamp(1_700_000_000, tz=UTC)
    assert "NotInTheModel" not in out and "FailureReason" not in out and "ModelArtifacts" not in out
    assert out["HyperParameters"] == {"a": "1"}


def test_domain_errors_map_through_the_provider(client: InternalClient) -> None:
    with pytest.raises(errors.ResourceNotFound) as exc:
        client.call("sagemaker", "DescribeTrainingJob", {"TrainingJobName": "missing"})
    assert exc.value.message == "Requested resource not found: missing"
    assert isinstance(exc.value.__cause__, domain.NotFound)


def test_aws_errors_pass_through(client: InternalClient) -> None:
    with pytest.raises(errors.ResourceLimitExceeded):
        client.call("sagemaker", "DescribeTrainingJob", {"TrainingJobName": "aws"})


def test_handler_bugs_become_internal_failure(client: InternalClient, caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(errors.InternalFailure) as exc:
        client.call("sagemaker", "DescribeTrainingJob", {"TrainingJobName": "buggy"})
    assert exc.value.status == 500
    assert isinstance(exc.value.__cause__, KeyError)
    assert "internal error in sagemaker:DescribeTrainingJob" in caplog.text


def test_async_handlers_run_without_a_loop(client: InternalClient) -> None:
    assert client.call("sagemaker", "ListTrainingJobs", {}) == {"TrainingJobSummaries": []}


def test_async_handlers_inside_a_running_loop_need_acall(client: InternalClient) -> None:
    async def inside() -> dict[str, Any]:
        with pytest.raises(RuntimeError, match="acall"):
            client.call("sagemaker", "ListTrainingJobs", {})
        return await client.acall("sagemaker", "ListTrainingJobs", {})

    assert asyncio.run(inside()) == {"TrainingJobSummaries": []}


def test_acall_runs_sync_handlers_too(client: InternalClient) -> None:
    out = asyncio.run(client.acall("iam", "GetRole", {"RoleName": "R"}))
    assert out["Role"]["RoleName"] == "R"


def test_streaming_payloads_are_streams(client: InternalClient) -> None:
    out = client.call("sagemaker-runtime", "InvokeEndpoint", {"EndpointName": "ep", "Body": b"abc",
                                                               "ContentType": "text/plain"})
    assert out == {"Body": b"ABC", "ContentType": "text/plain"}
    out = client.call("sagemaker-runtime", "InvokeEndpoint", {"EndpointName": "ep", "Body": "text"})
    assert out["Body"] == b"TEXT"
