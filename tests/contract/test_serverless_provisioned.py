"""A serverless variant's provisioned concurrency, changed by hand (`UpdateEndpointWeightsAndCapacities`
with `ServerlessUpdateConfig`) and by Application Auto Scaling (`sagemaker:variant:
DesiredProvisionedConcurrency`, target tracking on `SageMakerVariantProvisionedConcurrencyUtilization`),
against a real `kiln server` subprocess: one replica per unit of concurrency, so the model-server
processes show what is warm."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from test_hosting_helpers import create_model, upload_model, variant, wait_endpoint
from test_hosting_serverless import ROW, client, delete, deploy, endpoint_pids, invoke, wait_pids

from server_proc import ServerProcess

RESOURCE = "endpoint/{}/variant/AllTraffic"
PROVISIONED = "sagemaker:variant:DesiredProvisionedConcurrency"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data = tmp_path_factory.mktemp("provisioned") / "data"
    proc = ServerProcess(data, KILN_HOSTING_SERVERLESS_IDLE_SECONDS="3",
                         KILN_HOSTING_SERVERLESS_REPLICA_CONCURRENCY="1", KILN_HOSTING_METRICS_FLUSH_SECONDS="1",
                         KILN_HOSTING_AUTOSCALING_INTERVAL_SECONDS="1",
                         KILN_HOSTING_AUTOSCALING_WINDOW_SECONDS="4").wait_healthy()
    yield proc
    proc.terminate()


def until(check: Callable[[], Any], what: str, timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.25)


def serverless_config(sm: Any, name: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
    desc = sm.describe_endpoint(EndpointName=name)
    v = desc["ProductionVariants"][0]
    return desc["EndpointStatus"], v["CurrentServerlessConfig"], v["DesiredServerlessConfig"]


def test_update_provisioned_concurrency_by_hand(server: ServerProcess) -> None:
    name = "pc-manual"
    deploy(server, name, MaxConcurrency=3, ProvisionedConcurrency=1)
    sm = client(server, "sagemaker")
    [first] = wait_pids(server, name, 1)
    sm.update_endpoint_weights_and_capacities(EndpointName=name, DesiredWeightsAndCapacities=[
        {"VariantName": "AllTraffic", "ServerlessUpdateConfig": {"ProvisionedConcurrency": 2}}])
    status, _, desired = serverless_config(sm, name)
    assert status == "Updating" and desired["ProvisionedConcurrency"] == 2
    desc = wait_endpoint(sm, name)
    assert desc["EndpointStatus"] == "InService"
    assert desc["ProductionVariants"][0]["CurrentServerlessConfig"] == {
        "MemorySizeInMB": 2048, "MaxConcurrency": 3, "ProvisionedConcurrency": 2}
    assert first in wait_pids(server, name, 2)  # one more warm replica; the first one stays
    listed = subprocess.run([sys.executable, "-m", "kiln", "endpoints", "--endpoint", server.url], capture_output=True,
                            text=True, timeout=120, env={**os.environ, "COLUMNS": "220"})
    row = next(x for x in listed.stdout.splitlines() if name in x)
    assert "serverless" in row and "2048 MB, max 3" in row and "2 provisioned + on demand" in row, listed.stdout
    sm.update_endpoint_weights_and_capacities(EndpointName=name, DesiredWeightsAndCapacities=[
        {"VariantName": "AllTraffic", "ServerlessUpdateConfig": {"MaxConcurrency": 5, "ProvisionedConcurrency": 1}}])
    wait_endpoint(sm, name)
    assert serverless_config(sm, name)[1] == {"MemorySizeInMB": 2048, "MaxConcurrency": 5, "ProvisionedConcurrency": 1}
    assert len(wait_pids(server, name, 1)) == 1

    for update, message in (({"ProvisionedConcurrency": 6}, "ProvisionedConcurrency (6) of variant AllTraffic must "
                                                            "be less than or equal to MaxConcurrency (5)"),
                            ({"MaxConcurrency": 0}, "greater than or equal to 1")):
        with pytest.raises(ClientError) as err:
            client(server, "sagemaker", parameter_validation=False).update_endpoint_weights_and_capacities(
                EndpointName=name, DesiredWeightsAndCapacities=[{"VariantName": "AllTraffic",
                                                                 "ServerlessUpdateConfig": update}])
        assert err.value.response["Error"]["Code"] == "ValidationException"
        assert message in err.value.response["Error"]["Message"]
    assert serverless_config(sm, name)[1]["ProvisionedConcurrency"] == 1  # nothing changed
    delete(server, name)


def test_serverless_update_on_an_instance_variant_is_refused(server: ServerProcess) -> None:
    sm, s3 = client(server, "sagemaker"), client(server, "s3")
    create_model(sm, "pc-instances", upload_model(s3, "provisioned/instances/model.tar.gz"))
    sm.create_endpoint_config(EndpointConfigName="pc-instances", ProductionVariants=[variant("AllTraffic",
                                                                                            "pc-instances")])
    sm.create_endpoint(EndpointName="pc-instances", EndpointConfigName="pc-instances")
    assert wait_endpoint(sm, "pc-instances")["EndpointStatus"] == "InService"
    with pytest.raises(ClientError) as err:
        sm.update_endpoint_weights_and_capacities(EndpointName="pc-instances", DesiredWeightsAndCapacities=[
            {"VariantName": "AllTraffic", "ServerlessUpdateConfig": {"ProvisionedConcurrency": 2}}])
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert "is not serverless" in err.value.response["Error"]["Message"]
    aas = client(server, "application-autoscaling")
    with pytest.raises(ClientError) as err:
        aas.register_scalable_target(ServiceNamespace="sagemaker", ResourceId=RESOURCE.format("pc-instances"),
                                     ScalableDimension=PROVISIONED, MinCapacity=1, MaxCapacity=2)
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert "has no provisioned concurrency to scale" in err.value.response["Error"]["Message"]
    delete(server, "pc-instances")


def test_autoscaling_tracks_provisioned_concurrency_utilization(server: ServerProcess) -> None:
    name = "pc-auto"
    deploy(server, name, MaxConcurrency=4, ProvisionedConcurrency=1)
    sm, aas, cw = client(server, "sagemaker"), client(server, "application-autoscaling"), client(server, "cloudwatch")
    resource = RESOURCE.format(name)
    with pytest.raises(ClientError) as err:  # a serverless variant has no instance count
        aas.register_scalable_target(ServiceNamespace="sagemaker", ResourceId=resource,
                                     ScalableDimension="sagemaker:variant:DesiredInstanceCount", MinCapacity=1,
                                     MaxCapacity=2)
    assert "is serverless" in err.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as err:
        aas.register_scalable_target(ServiceNamespace="sagemaker", ResourceId=resource, ScalableDimension=PROVISIONED,
                                     MinCapacity=0, MaxCapacity=3)
    assert "must be at least 1" in err.value.response["Error"]["Message"]
    aas.register_scalable_target(ServiceNamespace="sagemaker", ResourceId=resource, ScalableDimension=PROVISIONED,
                                 MinCapacity=1, MaxCapacity=3)
    with pytest.raises(ClientError) as err:
        aas.put_scaling_policy(PolicyName="wrong", ServiceNamespace="sagemaker", ResourceId=resource,
                               ScalableDimension=PROVISIONED, PolicyType="TargetTrackingScaling",
                               TargetTrackingScalingPolicyConfiguration={
                                   "TargetValue": 0.5, "PredefinedMetricSpecification": {
                                       "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"}})
    assert "SageMakerVariantProvisionedConcurrencyUtilization" in err.value.response["Error"]["Message"]
    aas.put_scaling_policy(PolicyName="pc-utilization", ServiceNamespace="sagemaker", ResourceId=resource,
                           ScalableDimension=PROVISIONED, PolicyType="TargetTrackingScaling",
                           TargetTrackingScalingPolicyConfiguration={
                               "TargetValue": 0.5, "ScaleOutCooldown": 0, "ScaleInCooldown": 0,
                               "PredefinedMetricSpecification": {
                                   "PredefinedMetricType": "SageMakerVariantProvisionedConcurrencyUtilization"}})
    current = lambda: serverless_config(sm, name)[1]["ProvisionedConcurrency"]  # noqa: E731

    stop = threading.Event()
    rt = client(server, "sagemaker-runtime", max_pool_connections=4)

    def load() -> int:  # one request after another: two of these keep two requests in flight
        answered = 0
        while not stop.is_set():
            invoke(rt, name, {"inputs": [ROW], "sleep": 0.3})
            answered += 1
        return answered

    with ThreadPoolExecutor(2) as pool:
        workers = [pool.submit(load) for _ in range(2)]
        try:  # two in flight against one provisioned: utilization 1.0 over a target of 0.5 -> 2, then up to 3
            until(lambda: current() == 3, "the provisioned concurrency to scale out to the maximum of 3")
        finally:
            stop.set()
        assert all(w.result() > 0 for w in workers)
    assert len(wait_pids(server, name, 3)) == 3  # three warm replicas
    activities = [a["Description"] for a in aas.describe_scaling_activities(
        ServiceNamespace="sagemaker", ResourceId=resource, ScalableDimension=PROVISIONED)["ScalingActivities"]]
    assert "Setting desired provisioned concurrency to 2." in activities
    assert "Setting desired provisioned concurrency to 3." in activities

    until(lambda: current() == 1, "the idle variant to scale back in to the minimum of 1")
    assert len(wait_pids(server, name, 1, timeout=30)) == 1
    done = until(lambda: [a for a in aas.describe_scaling_activities(
        ServiceNamespace="sagemaker", ResourceId=resource, ScalableDimension=PROVISIONED)["ScalingActivities"]
        if a["Description"] == "Setting desired provisioned concurrency to 1." and a["StatusCode"] != "InProgress"],
        "the scale-in activity to finish")
    assert done[0]["StatusCode"] == "Successful"

    now = datetime.now(UTC)
    dims = [{"Name": "EndpointName", "Value": name}, {"Name": "VariantName", "Value": "AllTraffic"}]

    def stat(metric: str, statistic: str) -> float:
        points = cw.get_metric_statistics(Namespace="AWS/SageMaker", MetricName=metric, Dimensions=dims,
                                          StartTime=now - timedelta(minutes=10), EndTime=now + timedelta(minutes=1),
                                          Period=3600, Statistics=[statistic])["Datapoints"]
        return points[0][statistic] if points else -1.0

    assert 0 < stat("ServerlessProvisionedConcurrencyUtilization", "Maximum") <= 1.0
    assert stat("ServerlessProvisionedConcurrencyExecutions", "Maximum") >= 1
    assert stat("ServerlessProvisionedConcurrencyInvocations", "Sum") > 0
    assert stat("ServerlessProvisionedConcurrencySpilloverInvocations", "Sum") > 0  # the second request at PC 1
    assert endpoint_pids(server, name)
    aas.deregister_scalable_target(ServiceNamespace="sagemaker", ResourceId=resource, ScalableDimension=PROVISIONED)
    delete(server, name)
