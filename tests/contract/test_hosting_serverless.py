"""Serverless endpoints with boto3 against a real `kiln server` subprocess (short idle period):
validation, InService with no model-server process, a cold start answered, throttling beyond
MaxConcurrency (on the fast path and through the gateway), scale back to zero, provisioned
concurrency, the 4 MB payload limit, the memory limit on the process, and the metrics."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from test_hosting_helpers import create_model, upload_model, wait_endpoint, wait_gone

from server_proc import ServerProcess

IDLE = 4.0
ROW = [0.5, -1.0, 0.25, 1.5]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data = tmp_path_factory.mktemp("serverless") / "data"
    proc = ServerProcess(data, KILN_HOSTING_SERVERLESS_IDLE_SECONDS=str(IDLE),
                         KILN_HOSTING_METRICS_FLUSH_SECONDS="1").wait_healthy()
    yield proc
    proc.terminate()


def client(server: ServerProcess, service: str, **config: Any) -> Any:
    return boto3.client(service, endpoint_url=server.url, region_name="us-east-1", aws_access_key_id="kiln",
                        aws_secret_access_key="kiln",
                        config=Config(retries={"total_max_attempts": 1}, read_timeout=120, **config))


def endpoint_pids(server: ServerProcess, endpoint: str) -> list[int]:
    """Model-server processes of this endpoint (their working directory is the replica's)."""
    marker = f"KILN_JOB_OWNER={server.data_dir.resolve()}#hosting".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0") and \
                    f"/{endpoint}/" in os.readlink(entry / "cwd"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def wait_pids(server: ServerProcess, endpoint: str, count: int, timeout: float = 60) -> list[int]:
    deadline = time.monotonic() + timeout
    while True:
        pids = endpoint_pids(server, endpoint)
        if len(pids) == count:
            return pids
        if time.monotonic() > deadline:
            raise AssertionError(f"endpoint {endpoint} has {len(pids)} model-server processes, not {count}")
        time.sleep(0.2)


def deploy(server: ServerProcess, name: str, **cfg: int) -> dict[str, Any]:
    sm, s3 = client(server, "sagemaker"), client(server, "s3")
    create_model(sm, name, upload_model(s3, f"serverless/{name}/model.tar.gz"))
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": name, "InitialVariantWeight": 1,
        "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 2, **cfg}}])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    return wait_endpoint(sm, name)


def invoke(rt: Any, name: str, body: Any, **extra: Any) -> dict[str, Any]:
    out = rt.invoke_endpoint(EndpointName=name, ContentType="application/json", Body=json.dumps(body), **extra)
    return {"body": json.loads(out["Body"].read()), "variant": out["InvokedProductionVariant"]}


def delete(server: ServerProcess, name: str) -> None:
    sm = client(server, "sagemaker")
    sm.delete_endpoint(EndpointName=name)
    wait_gone(sm, name)
    assert wait_pids(server, name, 0, timeout=30) == []


@pytest.mark.parametrize(("cfg", "extra", "message"), [
    ({"MemorySizeInMB": 1500, "MaxConcurrency": 2}, {}, "memorySizeInMB"),
    ({"MemorySizeInMB": 512, "MaxConcurrency": 2}, {},
     "Value '512' at 'productionVariants.1.member.serverlessConfig.memorySizeInMB' failed to satisfy constraint: "
     "Member must have value greater than or equal to 1024"),
    ({"MemorySizeInMB": 8192, "MaxConcurrency": 2}, {}, "Member must have value less than or equal to 6144"),
    ({"MemorySizeInMB": 1024, "MaxConcurrency": 201}, {},
     "'productionVariants.1.member.serverlessConfig.maxConcurrency' failed to satisfy constraint: "
     "Member must have value less than or equal to 200"),
    ({"MemorySizeInMB": 1024, "MaxConcurrency": 0}, {}, "Member must have value greater than or equal to 1"),
    ({"MemorySizeInMB": 1024, "MaxConcurrency": 2, "ProvisionedConcurrency": 3}, {},
     "ProvisionedConcurrency (3) of variant A must be less than or equal to MaxConcurrency (2)"),
    ({"MemorySizeInMB": 1024, "MaxConcurrency": 2}, {"InstanceType": "ml.m5.large", "InitialInstanceCount": 1},
     "ServerlessConfig together with InstanceType"),
])
def test_config_validation(server: ServerProcess, cfg: dict[str, int], extra: dict[str, Any], message: str) -> None:
    sm = client(server, "sagemaker", parameter_validation=False)  # the server's checks, not botocore's
    with pytest.raises(ClientError) as err:
        sm.create_endpoint_config(EndpointConfigName="bad-serverless", ProductionVariants=[
            {"VariantName": "A", "ModelName": "whatever", "ServerlessConfig": cfg, **extra}])
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert message in err.value.response["Error"]["Message"]


def test_scale_to_zero_cold_start_and_memory_limit(server: ServerProcess) -> None:
    name = "sls-cold"
    desc = deploy(server, name)
    assert desc["EndpointStatus"] == "InService"
    variant = desc["ProductionVariants"][0]
    assert variant["CurrentServerlessConfig"] == {"MemorySizeInMB": 2048, "MaxConcurrency": 2}
    assert variant["DesiredServerlessConfig"] == variant["CurrentServerlessConfig"]
    assert "CurrentInstanceCount" not in variant
    wait_pids(server, name, 0)  # the start-up probe is gone: InService with no process

    rt = client(server, "sagemaker-runtime")
    t0 = time.monotonic()
    first = invoke(rt, name, [ROW])
    cold = time.monotonic() - t0
    assert first["variant"] == "AllTraffic" and 0 <= first["body"]["predictions"][0] <= 1
    [pid] = endpoint_pids(server, name)
    assert first["body"]["pid"] == pid
    limits = Path(f"/proc/{pid}/limits").read_text()
    data_line = next(line for line in limits.splitlines() if line.startswith("Max data size"))
    assert data_line.split()[3:5] == [str(2048 * 1024 * 1024)] * 2, data_line

    t0 = time.monotonic()
    for _ in range(5):  # warm: the same process answers
        assert invoke(rt, name, [ROW])["body"]["pid"] == pid
        time.sleep(IDLE / 5)  # traffic keeps it warm past one idle period
    warm = (time.monotonic() - t0 - IDLE) / 5
    assert endpoint_pids(server, name) == [pid]
    print(f"cold start {cold:.2f} s, warm {warm * 1000:.1f} ms")

    wait_pids(server, name, 0, timeout=IDLE + 30)  # idle: back to zero processes
    assert invoke(rt, name, [ROW])["body"]["pid"] != pid  # and a cold start again
    assert len(endpoint_pids(server, name)) == 1

    cw = client(server, "cloudwatch")
    dims = [{"Name": "EndpointName", "Value": name}, {"Name": "VariantName", "Value": "AllTraffic"}]
    deadline = time.monotonic() + 30
    while True:
        now = datetime.now(UTC)
        stats = {metric: cw.get_metric_statistics(
            Namespace="AWS/SageMaker", MetricName=metric, Dimensions=dims, StartTime=now - timedelta(minutes=10),
            EndTime=now + timedelta(minutes=1), Period=3600, Statistics=["SampleCount", "Sum", "Maximum"],
        )["Datapoints"] for metric in ("Invocations", "ModelSetupTime", "OverheadLatency")}
        if stats["Invocations"] and stats["Invocations"][0]["Sum"] == 7 and len(stats["ModelSetupTime"]) == 1 \
                and stats["ModelSetupTime"][0]["SampleCount"] == 3:
            break
        assert time.monotonic() < deadline, stats
        time.sleep(0.5)
    setup = stats["ModelSetupTime"][0]  # the probe and two cold starts
    assert setup["Unit"] == "Microseconds" and 0 < setup["Maximum"] < 120e6
    assert stats["OverheadLatency"][0]["Maximum"] > 0  # the cold start's wait is overhead
    text = httpx.get(f"{server.url}/_kiln/metrics").text
    labels = f'account="123456789012",region="us-east-1",endpoint="{name}",variant="AllTraffic"'
    assert f"kiln_endpoint_serverless_cold_starts_total{{{labels}}} 2" in text
    assert f"kiln_endpoint_serverless_memory_mb{{{labels}}} 2048" in text
    delete(server, name)


def test_throttling_beyond_max_concurrency(server: ServerProcess) -> None:
    name = "sls-throttle"
    deploy(server, name)
    rt = client(server, "sagemaker-runtime", max_pool_connections=20)

    def call(i: int) -> str:
        extra = {"SessionId": "gateway"} if i % 2 else {}  # odd ones go through the gateway, not the fast path
        try:
            invoke(rt, name, {"sleep": 4, "inputs": [ROW]}, **extra)
            return "ok"
        except ClientError as exc:
            error = exc.response["Error"]
            status = exc.response["ResponseMetadata"]["HTTPStatusCode"]
            return f"{error['Code']} {status} {'gateway' if i % 2 else 'fast'}"

    with ThreadPoolExecutor(8) as pool:  # cold: the first two admitted wait for the replica, then 4 s each
        results = list(pool.map(call, range(8)))
    assert results.count("ok") == 2, results
    throttled = [r for r in results if r != "ok"]
    assert all(r.startswith("ThrottlingException 400") for r in throttled), results
    assert {r.rsplit(" ", 1)[1] for r in throttled} == {"gateway", "fast"}
    assert invoke(rt, name, [ROW])["variant"] == "AllTraffic"  # capacity is back once they finished

    with pytest.raises(ClientError) as err:  # serverless takes 4 MB (an instance variant 6 MB)
        rt.invoke_endpoint(EndpointName=name, ContentType="application/json", Body=b"[" + b" " * (4 << 20) + b"]")
    assert err.value.response["Error"]["Code"] == "ValidationError"
    assert "maximum allowed payload size of 4194304 bytes" in err.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as err:
        rt.invoke_endpoint_with_response_stream(EndpointName=name, ContentType="application/json", Body=b"[]")
    assert err.value.response["Error"]["Code"] == "ValidationError"
    assert "not supported for serverless" in err.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as err:
        client(server, "sagemaker").update_endpoint_weights_and_capacities(
            EndpointName=name, DesiredWeightsAndCapacities=[{"VariantName": "AllTraffic", "DesiredInstanceCount": 2}])
    assert "serverless" in err.value.response["Error"]["Message"]
    delete(server, name)


def test_provisioned_concurrency_keeps_replicas_warm(server: ServerProcess) -> None:
    name = "sls-provisioned"
    desc = deploy(server, name, MaxConcurrency=4, ProvisionedConcurrency=1)
    assert desc["ProductionVariants"][0]["CurrentServerlessConfig"]["ProvisionedConcurrency"] == 1
    [pid] = wait_pids(server, name, 1)
    rt = client(server, "sagemaker-runtime")
    assert invoke(rt, name, [ROW])["body"]["pid"] == pid  # no cold start
    time.sleep(IDLE + 6)  # idle past the period (and a reconciler scan)
    assert endpoint_pids(server, name) == [pid]
    delete(server, name)
