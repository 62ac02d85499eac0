"""Hosting with boto3 against a live server: models, endpoint configs, endpoints that really serve,
InvokeEndpoint's contract (variant header, custom attributes, ModelError, limits), failures."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from test_hosting_helpers import (
    create_model,
    pid_alive,
    replica_pids,
    upload_model,
    variant,
    wait_endpoint,
    wait_gone,
)

ROW = [0.5, -1.0, 0.25, 1.5]


def _code(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    err = exc.value.response["Error"]
    return err["Code"], err["Message"]


@pytest.fixture(scope="module")
def endpoint(aws_client: Any) -> Iterator[str]:
    """One endpoint with two instances of the scripted model, shared by the tests below."""
    sm, s3 = aws_client("sagemaker"), aws_client("s3")
    url = upload_model(s3, "contract/shared/model.tar.gz")
    create_model(sm, "hosting-shared-model", url, tag="shared")
    sm.create_endpoint_config(EndpointConfigName="hosting-shared", ProductionVariants=[
        variant("AllTraffic", "hosting-shared-model", count=2)])
    sm.create_endpoint(EndpointName="hosting-shared", EndpointConfigName="hosting-shared",
                       Tags=[{"Key": "team", "Value": "ml"}])
    assert sm.describe_endpoint(EndpointName="hosting-shared")["EndpointStatus"] == "Creating"
    sm.get_waiter("endpoint_in_service").wait(EndpointName="hosting-shared", WaiterConfig={"Delay": 1})
    yield "hosting-shared"
    sm.delete_endpoint(EndpointName="hosting-shared")
    sm.get_waiter("endpoint_deleted").wait(EndpointName="hosting-shared", WaiterConfig={"Delay": 1})


def test_models_create_describe_list_delete(aws_client: Any, unique_name: str) -> None:
    sm = aws_client("sagemaker")
    container = {"Image": "x/sagemaker-scikit-learn:1.2-1", "ModelDataUrl": "s3://b/m.tar.gz",
                 "Environment": {"A": "1"}}
    arn = sm.create_model(ModelName=unique_name, PrimaryContainer=container,
                          ExecutionRoleArn="arn:aws:iam::123456789012:role/R")["ModelArn"]
    assert arn == f"arn:aws:sagemaker:us-east-1:123456789012:model/{unique_name}"
    desc = sm.describe_model(ModelName=unique_name)
    assert desc["PrimaryContainer"] == container and desc["ModelArn"] == arn and desc["CreationTime"]
    with pytest.raises(ClientError) as dup:
        sm.create_model(ModelName=unique_name, PrimaryContainer=container,
                        ExecutionRoleArn="arn:aws:iam::123456789012:role/R")
    assert _code(dup) == ("ValidationException", f'Cannot create already existing model "{arn}".')
    names = [m["ModelName"] for m in sm.list_models(NameContains=unique_name)["Models"]]
    assert names == [unique_name]
    sm.delete_model(ModelName=unique_name)
    with pytest.raises(ClientError) as missing:
        sm.describe_model(ModelName=unique_name)
    code, message = _code(missing)
    assert code == "ValidationException" and "Could not find model" in message
    with pytest.raises(ClientError) as missing_delete:
        sm.delete_model(ModelName=unique_name)
    assert "Could not find model" in _code(missing_delete)[1]


def test_endpoint_configs(aws_client: Any, unique_name: str) -> None:
    sm = aws_client("sagemaker")
    with pytest.raises(ClientError) as no_model:
        sm.create_endpoint_config(EndpointConfigName=unique_name, ProductionVariants=[variant("A", "nope-model")])
    assert "Could not find model" in _code(no_model)[1]
    sm.create_model(ModelName=unique_name, PrimaryContainer={"Image": "x/sagemaker-scikit-learn:1"},
                    ExecutionRoleArn="arn:aws:iam::123456789012:role/R")
    capture = {"EnableCapture": True, "InitialSamplingPercentage": 50, "DestinationS3Uri": "s3://b/capture",
               "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}]}
    arn = sm.create_endpoint_config(EndpointConfigName=unique_name, DataCaptureConfig=capture,
                                    ProductionVariants=[variant("A", unique_name, 2, 0.9),
                                                        variant("B", unique_name, 1, 0.1)])["EndpointConfigArn"]
    desc = sm.describe_endpoint_config(EndpointConfigName=unique_name)
    assert desc["EndpointConfigArn"] == arn and desc["DataCaptureConfig"] == capture
    assert [(v["VariantName"], v["InitialInstanceCount"], v["InitialVariantWeight"])
            for v in desc["ProductionVariants"]] == [("A", 2, 0.9), ("B", 1, 0.1)]
    with pytest.raises(ClientError) as dup:
        sm.create_endpoint_config(EndpointConfigName=unique_name, ProductionVariants=[variant("A", unique_name)])
    assert "Cannot create already existing endpoint configuration" in _code(dup)[1]
    assert unique_name in [c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]]
    sm.delete_endpoint_config(EndpointConfigName=unique_name)
    with pytest.raises(ClientError) as missing:
        sm.describe_endpoint_config(EndpointConfigName=unique_name)
    assert _code(missing)[0] == "ValidationException" and "Could not find endpoint configuration" in _code(missing)[1]
    sm.delete_model(ModelName=unique_name)


def test_endpoint_describe_and_list(aws_client: Any, endpoint: str) -> None:
    sm = aws_client("sagemaker")
    desc = sm.describe_endpoint(EndpointName=endpoint)
    assert desc["EndpointStatus"] == "InService" and desc["EndpointConfigName"] == endpoint
    (pv,) = desc["ProductionVariants"]
    assert (pv["VariantName"], pv["CurrentInstanceCount"], pv["DesiredInstanceCount"]) == ("AllTraffic", 2, 2)
    assert pv["CurrentWeight"] == pv["DesiredWeight"] == 1.0
    assert pv["DeployedImages"][0]["SpecifiedImage"].endswith("sagemaker-scikit-learn:1.2-1-cpu-py3")
    listed = sm.list_endpoints(NameContains=endpoint, StatusEquals="InService")["Endpoints"]
    assert [e["EndpointName"] for e in listed] == [endpoint]
    assert sm.list_tags(ResourceArn=desc["EndpointArn"])["Tags"] == [{"Key": "team", "Value": "ml"}]


def test_invoke_json_csv_variant_and_custom_attributes(aws_client: Any, endpoint: str) -> None:
    rt = aws_client("sagemaker-runtime")
    out = rt.invoke_endpoint(EndpointName=endpoint, ContentType="application/json", Accept="application/json",
                             Body=json.dumps({"inputs": [ROW, ROW]}), CustomAttributes="trace=abc")
    doc = json.loads(out["Body"].read())
    assert len(doc["predictions"]) == 2 and 0 <= doc["predictions"][0] <= 1 and doc["tag"] == "shared"
    assert out["ContentType"] == "application/json"
    assert out["InvokedProductionVariant"] == "AllTraffic"
    assert out["CustomAttributes"] == "echo:trace=abc"
    csv = rt.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body="0.5,-1,0.25,1.5\n1,1,1,1\n")
    assert len(json.loads(csv["Body"].read())["predictions"]) == 2
    targeted = rt.invoke_endpoint(EndpointName=endpoint, TargetVariant="AllTraffic", ContentType="application/json",
                                  Body=json.dumps([ROW]))
    assert targeted["InvokedProductionVariant"] == "AllTraffic"


def test_load_spreads_over_both_replicas(aws_client: Any, endpoint: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    rt = aws_client("sagemaker-runtime")

    def call(_: int) -> int:
        body = json.dumps({"inputs": [ROW], "sleep": 0.05})
        return int(json.loads(rt.invoke_endpoint(EndpointName=endpoint, ContentType="application/json",
                                                 Body=body)["Body"].read())["pid"])

    with ThreadPoolExecutor(4) as pool:
        pids = list(pool.map(call, range(24)))
    assert len(set(pids)) == 2  # least-outstanding-requests keeps both replicas busy


def test_model_errors_are_model_error(aws_client: Any, endpoint: str) -> None:
    rt = aws_client("sagemaker-runtime")
    with pytest.raises(ClientError) as client_error:
        rt.invoke_endpoint(EndpointName=endpoint, ContentType="application/json",
                           Body=json.dumps({"status": 422, "message": "bad feature vector"}))
    err = client_error.value.response["Error"]
    assert client_error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert err["Code"] == "ModelError"
    assert err["Message"].startswith('Received client error (422) from primary with message "bad feature vector"')
    assert client_error.value.response["OriginalStatusCode"] == 422
    assert client_error.value.response["OriginalMessage"] == "bad feature vector"
    assert client_error.value.response["LogStreamArn"].endswith(f"log-group:/aws/sagemaker/Endpoints/{endpoint}")
    with pytest.raises(ClientError) as server_error:
        rt.invoke_endpoint(EndpointName=endpoint, ContentType="application/json", Body="not json")
    assert server_error.value.response["Error"]["Message"].startswith("Received server error (500) from primary")


def test_invoke_validation(aws_client: Any, endpoint: str) -> None:
    rt = aws_client("sagemaker-runtime")
    with pytest.raises(ClientError) as missing:
        rt.invoke_endpoint(EndpointName="no-such-endpoint", ContentType="application/json", Body=b"[]")
    assert _code(missing) == ("ValidationError", "Endpoint no-such-endpoint of account 123456789012 not found.")
    with pytest.raises(ClientError) as big:
        rt.invoke_endpoint(EndpointName=endpoint, ContentType="application/octet-stream",
                           Body=b"x" * (6 * 1024 * 1024 + 1))
    assert _code(big)[0] == "ValidationError"
    with pytest.raises(ClientError) as bad_variant:
        rt.invoke_endpoint(EndpointName=endpoint, TargetVariant="Nope", ContentType="application/json", Body=b"[]")
    assert _code(bad_variant)[0] == "ValidationError"


def test_model_timeout(kiln_server: Any, aws_client: Any, endpoint: str) -> None:
    provider = kiln_server.app.gateway.table.get("sagemaker-runtime", "InvokeEndpoint").provider
    rt = aws_client("sagemaker-runtime")
    provider.timeout = 0.5
    try:
        with pytest.raises(ClientError) as timed_out:
            rt.invoke_endpoint(EndpointName=endpoint, ContentType="application/json",
                               Body=json.dumps({"inputs": [ROW], "sleep": 1.5}))
    finally:
        provider.timeout = 60.0
    assert _code(timed_out)[0] == "ModelError" and "timed out" in _code(timed_out)[1]
    time.sleep(1.5)  # the replica finishes the slow request; the endpoint keeps serving
    rt.invoke_endpoint(EndpointName=endpoint, ContentType="application/json", Body=json.dumps([ROW]))


def test_crashed_replica_is_replaced_and_traffic_continues(kiln_server: Any, aws_client: Any, endpoint: str) -> None:
    """SIGKILL one of two replicas under load (3 client threads): no request fails (requests in flight
    on the dead replica are given to the other one), the endpoint stays InService, a replacement
    starts and takes traffic."""
    import os
    import signal
    import threading

    sm, rt = aws_client("sagemaker"), aws_client("sagemaker-runtime", max_pool_connections=4)
    before = replica_pids(kiln_server, endpoint)
    assert len(before) == 2
    stop = threading.Event()
    served: list[int] = []
    failures: list[str] = []

    def load() -> None:
        while not stop.is_set():
            try:
                out = rt.invoke_endpoint(EndpointName=endpoint, ContentType="application/json",
                                         Body=json.dumps({"inputs": [ROW], "sleep": 0.01}))
                served.append(json.loads(out["Body"].read())["pid"])
            except ClientError as exc:
                failures.append(str(exc))

    threads = [threading.Thread(target=load, daemon=True) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.5)
        os.kill(before[0], signal.SIGKILL)
        deadline = time.time() + 60
        while time.time() < deadline:
            now = replica_pids(kiln_server, endpoint)
            if len(now) == 2 and before[0] not in now:
                break
            time.sleep(0.05)
        mark = len(served)
        time.sleep(1.0)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    assert failures == [], failures[:3]
    after = replica_pids(kiln_server, endpoint)
    assert len(after) == 2 and before[1] in after and before[0] not in after
    assert set(served[mark:]) == set(after)  # the replacement takes traffic
    assert sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "InService"


def test_model_that_will_not_load_fails_the_endpoint(kiln_server: Any, aws_client: Any, unique_name: str) -> None:
    sm, s3, rt = aws_client("sagemaker"), aws_client("s3"), aws_client("sagemaker-runtime")
    url = upload_model(s3, f"contract/{unique_name}/model.tar.gz", broken=True)
    create_model(sm, unique_name, url)
    sm.create_endpoint_config(EndpointConfigName=unique_name, ProductionVariants=[variant("AllTraffic", unique_name)])
    sm.create_endpoint(EndpointName=unique_name, EndpointConfigName=unique_name)
    desc = wait_endpoint(sm, unique_name)
    assert desc["EndpointStatus"] == "Failed"
    assert "did not pass the ping health check" in desc["FailureReason"]
    assert "this model is broken on purpose" in desc["FailureReason"]
    with pytest.raises(ClientError) as invoke:
        rt.invoke_endpoint(EndpointName=unique_name, ContentType="application/json", Body=b"[]")
    assert _code(invoke)[0] == "ValidationError"
    logs = aws_client("logs").filter_log_events(logGroupName=f"/aws/sagemaker/Endpoints/{unique_name}",
                                                logStreamNamePrefix="AllTraffic/")
    assert any("broken on purpose" in e["message"] for e in logs["events"])
    sm.delete_endpoint(EndpointName=unique_name)
    wait_gone(sm, unique_name)


def test_missing_model_data_fails_with_download_reason(aws_client: Any, unique_name: str) -> None:
    sm = aws_client("sagemaker")
    create_model(sm, unique_name, "s3://kiln-hosting-tests/nothing/here.tar.gz")
    sm.create_endpoint_config(EndpointConfigName=unique_name, ProductionVariants=[variant("AllTraffic", unique_name)])
    sm.create_endpoint(EndpointName=unique_name, EndpointConfigName=unique_name)
    desc = wait_endpoint(sm, unique_name)
    assert desc["EndpointStatus"] == "Failed"
    assert desc["FailureReason"].startswith('Failed to download model data for container "container_1"')
    sm.delete_endpoint(EndpointName=unique_name)
    wait_gone(sm, unique_name)


def test_default_sklearn_handlers_and_delete_stops_replicas(kiln_server: Any, aws_client: Any,
                                                            unique_name: str) -> None:
    """No inference script: the default model_fn loads model.joblib, predict_fn calls predict."""
    sm, s3, rt = aws_client("sagemaker"), aws_client("s3"), aws_client("sagemaker-runtime")
    url = upload_model(s3, f"contract/{unique_name}/model.tar.gz", code=False)
    create_model(sm, unique_name, url, code=False)
    sm.create_endpoint_config(EndpointConfigName=unique_name, ProductionVariants=[variant("AllTraffic", unique_name)])
    sm.create_endpoint(EndpointName=unique_name, EndpointConfigName=unique_name)
    assert wait_endpoint(sm, unique_name)["EndpointStatus"] == "InService"
    out = rt.invoke_endpoint(EndpointName=unique_name, ContentType="text/csv", Accept="text/csv", Body="1,-2,0.5,3")
    assert out["Body"].read().strip() in (b"0", b"1") and out["ContentType"] == "text/csv"
    pids = replica_pids(kiln_server, unique_name)
    sm.delete_endpoint(EndpointName=unique_name)
    wait_gone(sm, unique_name)
    assert not any(pid_alive(p) for p in pids)


def test_invoke_with_response_stream(aws_client: Any, endpoint: str) -> None:
    rt = aws_client("sagemaker-runtime")
    rows = [ROW, [1, 1, 1, 1], [0, 0, 0, 0]]
    out = rt.invoke_endpoint_with_response_stream(EndpointName=endpoint, ContentType="application/json",
                                                  Accept="application/jsonlines", Body=json.dumps({"inputs": rows}))
    assert out["InvokedProductionVariant"] == "AllTraffic" and out["ContentType"] == "application/jsonlines"
    parts = [event["PayloadPart"]["Bytes"] for event in out["Body"]]
    assert len(parts) == 3  # one chunk per line the handler yielded
    lines = [json.loads(p) for p in b"".join(parts).splitlines()]
    assert [line["index"] for line in lines] == [0, 1, 2]
    # a handler that does not stream answers in one part
    whole = rt.invoke_endpoint_with_response_stream(EndpointName=endpoint, ContentType="application/json",
                                                    Body=json.dumps([ROW]))
    (part,) = [event["PayloadPart"]["Bytes"] for event in whole["Body"]]
    assert len(json.loads(part)["predictions"]) == 1
    with pytest.raises(ClientError) as failed:
        rt.invoke_endpoint_with_response_stream(EndpointName=endpoint, ContentType="application/json",
                                                Body=json.dumps({"status": 400, "message": "nope"}))
    assert failed.value.response["Error"]["Code"] == "ModelError"


def test_unsigned_and_unusual_requests_reach_the_same_endpoint(kiln_server: Any, endpoint: str) -> None:
    """Plain HTTP clients work too; a request the plain-ASGI path leaves alone (here: a query string)
    gets the same answer through the generic gateway."""
    import httpx

    for url in (f"{kiln_server.url}/endpoints/{endpoint}/invocations",
                f"{kiln_server.url}/endpoints/{endpoint}/invocations?trace=1"):
        out = httpx.post(url, content=json.dumps([ROW]), headers={"Content-Type": "application/json"})
        assert out.status_code == 200, out.text
        assert out.headers["x-amzn-invoked-production-variant"] == "AllTraffic"
        assert out.headers["x-amzn-requestid"]
        assert len(out.json()["predictions"]) == 1
    missing = httpx.post(f"{kiln_server.url}/endpoints/nope/invocations", content=b"[]")
    assert missing.status_code == 400 and missing.headers["x-amzn-errortype"] == "ValidationError"


def test_cli_endpoints_and_invoke(kiln_server: Any, endpoint: str, tmp_path: Any) -> None:
    import subprocess
    import sys

    def kiln(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "kiln", *args, "--endpoint", kiln_server.url],
                              capture_output=True, text=True, timeout=120, env={**__import__("os").environ,
                                                                                "COLUMNS": "200"})

    listed = kiln("endpoints")
    assert listed.returncode == 0, listed.stderr
    line = next(x for x in listed.stdout.splitlines() if endpoint in x)
    assert "InService" in line and "AllTraffic" in line and "ml.m5.large" in line and "real-time" in line
    (tmp_path / "body.json").write_text(json.dumps({"inputs": [ROW]}))
    called = kiln("invoke", endpoint, "--body", f"@{tmp_path / 'body.json'}")
    assert called.returncode == 0, called.stderr
    assert len(json.loads(called.stdout)["predictions"]) == 1 and "variant: AllTraffic" in called.stderr
    missing = kiln("invoke", "no-such-endpoint", "--body", "[]")
    assert missing.returncode == 1 and missing.stderr.startswith("kiln: ValidationError: Endpoint no-such-endpoint")
