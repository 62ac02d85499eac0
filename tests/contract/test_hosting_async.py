"""Asynchronous inference with boto3 against a live server: AsyncInferenceConfig validation,
InvokeEndpointAsync answering at once, outputs and failures written where SageMaker writes them (with
the model's content type), MaxConcurrentInvocationsPerInstance, InvocationTimeoutSeconds, SNS
notifications, backlog metrics, and scaling 0 -> 1 -> 0 on the backlog."""

from __future__ import annotations

import base64
import json
import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from test_hosting_helpers import BUCKET, create_model, replica_pids, upload_model, variant, wait_endpoint

from sns_subscriber import Subscriber

ACCOUNT, REGION = "123456789012", "us-east-1"
ROW = [0.5, -1.0, 0.25, 1.5]


def _code(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    err = exc.value.response["Error"]
    return err["Code"], err["Message"]


def wait_object(s3: Any, uri: str, timeout: float = 120) -> dict[str, Any]:
    bucket, key = uri[len("s3://"):].split("/", 1)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return dict(s3.get_object(Bucket=bucket, Key=key))
        except s3.exceptions.NoSuchKey:
            time.sleep(0.2)
    raise AssertionError(f"{uri} was not written within {timeout}s")


def exists(s3: Any, uri: str) -> bool:
    bucket, key = uri[len("s3://"):].split("/", 1)
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError:
        return False
    return True


def put_input(s3: Any, key: str, doc: Any, content_type: str = "application/json") -> str:
    s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(doc).encode(), ContentType=content_type)
    return f"s3://{BUCKET}/{key}"


@pytest.fixture(scope="module")
def subscriber() -> Iterator[Subscriber]:
    s = Subscriber()
    yield s
    s.close()


@pytest.fixture(scope="module")
def topics(aws_client: Any, subscriber: Subscriber) -> dict[str, str]:
    sns = aws_client("sns")
    out = {kind: sns.create_topic(Name=f"async-{kind}")["TopicArn"] for kind in ("success", "error")}
    for arn in out.values():
        sns.subscribe(TopicArn=arn, Protocol="http", Endpoint=subscriber.url)
    return out


@pytest.fixture(scope="module")
def endpoint(aws_client: Any, topics: dict[str, str]) -> Iterator[str]:
    """An async endpoint: one instance, two concurrent invocations per instance, failure path, topics."""
    sm, s3 = aws_client("sagemaker"), aws_client("s3")
    url = upload_model(s3, "contract/async/model.tar.gz")
    create_model(sm, "async-model", url)
    sm.create_endpoint_config(EndpointConfigName="async-config",
                              ProductionVariants=[variant("AllTraffic", "async-model")],
                              AsyncInferenceConfig={
                                  "OutputConfig": {"S3OutputPath": f"s3://{BUCKET}/async/out",
                                                   "S3FailurePath": f"s3://{BUCKET}/async/failures",
                                                   "NotificationConfig": {
                                                       "SuccessTopic": topics["success"], "ErrorTopic": topics["error"],
                                                       "IncludeInferenceResponseIn": ["SUCCESS_NOTIFICATION_TOPIC"]}},
                                  "ClientConfig": {"MaxConcurrentInvocationsPerInstance": 2}})
    sm.create_endpoint(EndpointName="async-ep", EndpointConfigName="async-config")
    assert wait_endpoint(sm, "async-ep")["EndpointStatus"] == "InService"
    yield "async-ep"
    sm.delete_endpoint(EndpointName="async-ep")


def test_async_config_validation(aws_client: Any, unique_name: str) -> None:
    sm = aws_client("sagemaker")
    raw = aws_client("sagemaker", parameter_validation=False)
    sm.create_model(ModelName=unique_name, PrimaryContainer={"Image": "x/sagemaker-scikit-learn:1"},
                    ExecutionRoleArn="arn:aws:iam::123456789012:role/R")
    pv = [variant("AllTraffic", unique_name)]
    cases = [
        ({"OutputConfig": {}}, "AsyncInferenceConfig.OutputConfig.S3OutputPath is required"),
        ({"OutputConfig": {"S3OutputPath": "https://bucket.s3.amazonaws.com/out"}}, "s3:// locations only"),
        ({"OutputConfig": {"S3OutputPath": "s3://bkt/out", "NotificationConfig": {
            "SuccessTopic": "arn:aws:sns:eu-west-1:123456789012:t"}}}, "must be a topic of account 123456789012"),
        ({"OutputConfig": {"S3OutputPath": "s3://bkt/out", "NotificationConfig": {
            "IncludeInferenceResponseIn": ["ERROR_NOTIFICATION_TOPIC"]}}}, "ErrorTopic is not set"),
    ]
    for cfg, message in cases:
        with pytest.raises(ClientError) as exc:
            sm.create_endpoint_config(EndpointConfigName=unique_name, ProductionVariants=pv, AsyncInferenceConfig=cfg)
        code, text = _code(exc)
        assert code == "ValidationException" and message in text, (cfg, text)
    with pytest.raises(ClientError) as too_many:  # the model's bound, checked by the server too
        raw.create_endpoint_config(EndpointConfigName=unique_name, ProductionVariants=pv, AsyncInferenceConfig={
            "OutputConfig": {"S3OutputPath": "s3://bkt/out"},
            "ClientConfig": {"MaxConcurrentInvocationsPerInstance": 0}})
    assert _code(too_many)[0] == "ValidationException" and "maxConcurrentInvocationsPerInstance" in _code(too_many)[1]
    with pytest.raises(ClientError) as serverless:
        sm.create_endpoint_config(EndpointConfigName=unique_name, ProductionVariants=[{
            "VariantName": "A", "ModelName": unique_name, "ServerlessConfig": {"MemorySizeInMB": 2048,
                                                                               "MaxConcurrency": 2}}],
            AsyncInferenceConfig={"OutputConfig": {"S3OutputPath": "s3://bkt/out"}})
    assert "cannot be used with ServerlessConfig" in _code(serverless)[1]
    sm.create_endpoint_config(EndpointConfigName=unique_name, ProductionVariants=pv,
                              AsyncInferenceConfig={"OutputConfig": {"S3OutputPath": "s3://bkt/out"}})
    assert sm.describe_endpoint_config(EndpointConfigName=unique_name)["AsyncInferenceConfig"] == {
        "OutputConfig": {"S3OutputPath": "s3://bkt/out"}}
    sm.delete_endpoint_config(EndpointConfigName=unique_name)
    sm.delete_model(ModelName=unique_name)


def test_invoke_errors(aws_client: Any, endpoint: str) -> None:
    rt = aws_client("sagemaker-runtime")
    with pytest.raises(ClientError) as missing:
        rt.invoke_endpoint_async(EndpointName="no-such-async", InputLocation=f"s3://{BUCKET}/x")
    assert _code(missing) == ("ValidationError", "Endpoint no-such-async of account 123456789012 not found.")
    with pytest.raises(ClientError) as neither:
        rt.invoke_endpoint_async(EndpointName=endpoint)
    assert _code(neither)[0] == "ValidationError" and "InputLocation" in _code(neither)[1]
    with pytest.raises(ClientError) as too_big:
        rt.invoke_endpoint_async(EndpointName=endpoint, Body=b"x" * 128001, ContentType="application/json")
    assert _code(too_big)[0] == "ValidationError" and "128000 bytes" in _code(too_big)[1]
    # real-time calls are refused: an async endpoint's requests go through its queue
    with pytest.raises(ClientError) as realtime:
        rt.invoke_endpoint(EndpointName=endpoint, ContentType="application/json", Body=b"{}")
    assert _code(realtime)[0] == "ValidationError" and "InvokeEndpointAsync" in _code(realtime)[1]
    with pytest.raises(ClientError) as streamed:
        rt.invoke_endpoint_with_response_stream(EndpointName=endpoint, ContentType="application/json", Body=b"{}")
    assert _code(streamed)[0] == "ValidationError" and "InvokeEndpointAsync" in _code(streamed)[1]


def test_invoke_returns_at_once_and_output_is_written(aws_client: Any, endpoint: str, subscriber: Subscriber,
                                                      topics: dict[str, str]) -> None:
    rt, s3 = aws_client("sagemaker-runtime"), aws_client("s3")
    location = put_input(s3, "async/in/slow.json", {"sleep": 2.0, "inputs": [ROW]})
    t0 = time.monotonic()
    resp = rt.invoke_endpoint_async(EndpointName=endpoint, InputLocation=location, InferenceId="slow-1",
                                    Accept="application/json")
    took = time.monotonic() - t0
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert resp["InferenceId"] == "slow-1"
    assert resp["OutputLocation"] == f"s3://{BUCKET}/async/out/slow-1.out"
    assert resp["FailureLocation"] == f"s3://{BUCKET}/async/failures/slow-1-error.out"
    assert took < 2.0 and not exists(s3, resp["OutputLocation"])  # answered before the 2 s model finished
    out = wait_object(s3, resp["OutputLocation"])
    assert out["ContentType"] == "application/json"
    assert len(json.loads(out["Body"].read())["predictions"]) == 1
    assert not exists(s3, resp["FailureLocation"])
    note = json.loads(subscriber.wait_for(lambda m: m["TopicArn"] == topics["success"] and
                                          json.loads(m["Message"])["inferenceId"] == "slow-1")[0]["Message"])
    assert note["invocationStatus"] == "Completed" and note["eventName"] == "InferenceResult"
    assert note["requestParameters"] == {"endpointName": endpoint, "contentType": "application/json",
                                         "accept": "application/json", "inputLocation": location}
    assert note["responseParameters"] == {"contentType": "application/json", "outputLocation": resp["OutputLocation"]}
    assert note["awsRegion"] == REGION and note["receivedTime"] <= note["eventTime"]
    assert "predictions" in json.loads(base64.b64decode(note["responseBody"]["content"]))


def test_generated_id_and_inline_body(aws_client: Any, endpoint: str) -> None:
    rt, s3 = aws_client("sagemaker-runtime"), aws_client("s3")
    resp = rt.invoke_endpoint_async(EndpointName=endpoint, Body=json.dumps([ROW]).encode(),
                                    ContentType="application/json", S3OutputPathExtension="day1")
    inference_id = resp["InferenceId"]
    assert len(inference_id) == 36
    assert resp["OutputLocation"] == f"s3://{BUCKET}/async/out/day1/{inference_id}.out"
    assert wait_object(s3, resp["OutputLocation"])["ContentType"] == "application/json"


def test_payload_larger_than_real_time_limit(aws_client: Any, endpoint: str) -> None:
    rt, s3 = aws_client("sagemaker-runtime"), aws_client("s3")
    location = put_input(s3, "async/in/large.json", {"inputs": [ROW], "padding": "x" * (12 * 1024 * 1024)})
    resp = rt.invoke_endpoint_async(EndpointName=endpoint, InputLocation=location)  # 12 MB: async takes up to 1 GB
    out = wait_object(s3, resp["OutputLocation"])
    assert len(json.loads(out["Body"].read())["predictions"]) == 1


def test_model_error_writes_failure_object_and_error_notification(aws_client: Any, endpoint: str,
                                                                  subscriber: Subscriber,
                                                                  topics: dict[str, str]) -> None:
    rt, s3 = aws_client("sagemaker-runtime"), aws_client("s3")
    location = put_input(s3, "async/in/bad.json", {"status": 422, "message": "bad feature vector"})
    resp = rt.invoke_endpoint_async(EndpointName=endpoint, InputLocation=location, InferenceId="bad-1")
    failure = wait_object(s3, resp["FailureLocation"])
    assert failure["ContentType"] == "text/plain" and b"bad feature vector" in failure["Body"].read()
    assert not exists(s3, resp["OutputLocation"])
    note = json.loads(subscriber.wait_for(lambda m: m["TopicArn"] == topics["error"] and
                                          json.loads(m["Message"])["inferenceId"] == "bad-1")[0]["Message"])
    assert note["invocationStatus"] == "Failed" and "(422)" in note["failureReason"]
    assert "bad feature vector" in note["failureReason"] and "responseBody" not in note
    assert note["responseParameters"]["failureLocation"] == resp["FailureLocation"]


def test_invocation_timeout(aws_client: Any, endpoint: str) -> None:
    rt, s3 = aws_client("sagemaker-runtime"), aws_client("s3")
    location = put_input(s3, "async/in/too-slow.json", {"sleep": 4.0, "inputs": [ROW]})
    resp = rt.invoke_endpoint_async(EndpointName=endpoint, InputLocation=location, InvocationTimeoutSeconds=1)
    failure = json.loads(wait_object(s3, resp["FailureLocation"])["Body"].read())
    assert "InvocationTimeoutSeconds (1 s)" in failure["Message"]
    assert not exists(s3, resp["OutputLocation"])


def test_max_concurrent_invocations_per_instance(aws_client: Any, kiln_server: Any, endpoint: str) -> None:
    rt, s3 = aws_client("sagemaker-runtime"), aws_client("s3")
    queue = kiln_server.platform.hosting.asyncq.queue
    from kiln.services.hosting.asyncq.store import RequestStatus

    key = (ACCOUNT, REGION, endpoint)
    location = put_input(s3, "async/in/busy.json", {"sleep": 0.7, "inputs": [ROW]})
    outputs = [rt.invoke_endpoint_async(EndpointName=endpoint, InputLocation=location)["OutputLocation"]
               for _ in range(6)]
    most = 0
    deadline = time.monotonic() + 120
    while not all(exists(s3, o) for o in outputs):
        most = max(most, queue.count(key, RequestStatus.IN_PROGRESS))
        assert time.monotonic() < deadline, "async requests were not answered"
        time.sleep(0.05)
    assert most == 2  # one instance x MaxConcurrentInvocationsPerInstance 2: reached, never exceeded
    assert max(kiln_server.platform.hosting.asyncq.dispatcher.max_seen.values()) == 2


def test_backlog_metrics(aws_client: Any, endpoint: str) -> None:
    rt, s3, cw = aws_client("sagemaker-runtime"), aws_client("s3"), aws_client("cloudwatch")
    location = put_input(s3, "async/in/backlog.json", {"sleep": 1.0, "inputs": [ROW]})
    started = time.time()
    outputs = [rt.invoke_endpoint_async(EndpointName=endpoint, InputLocation=location)["OutputLocation"]
               for _ in range(8)]
    dims = [{"Name": "EndpointName", "Value": endpoint}]
    deadline = time.monotonic() + 60
    while True:
        stats = cw.get_metric_statistics(Namespace="AWS/SageMaker", MetricName="ApproximateBacklogSize",
                                         Dimensions=dims, StartTime=started - 5, EndTime=time.time() + 5, Period=60,
                                         Statistics=["Maximum"])["Datapoints"]
        if stats and max(p["Maximum"] for p in stats) >= 2:
            break
        assert time.monotonic() < deadline, f"no backlog datapoint: {stats}"
        time.sleep(1)
    names = {m["MetricName"] for m in cw.list_metrics(Namespace="AWS/SageMaker", Dimensions=dims)["Metrics"]}
    assert {"ApproximateBacklogSize", "ApproximateBacklogSizePerInstance", "ApproximateAgeOfOldestRequest",
            "HasBacklogWithoutCapacity"} <= names
    for o in outputs:
        wait_object(s3, o)


def test_replica_lost_mid_request_is_retried_on_its_replacement(aws_client: Any, kiln_server: Any,
                                                                endpoint: str) -> None:
    rt, s3 = aws_client("sagemaker-runtime"), aws_client("s3")
    location = put_input(s3, "async/in/lost.json", {"sleep": 3.0, "inputs": [ROW]})
    resp = rt.invoke_endpoint_async(EndpointName=endpoint, InputLocation=location, InferenceId="lost-1")
    queue = kiln_server.platform.hosting.asyncq.queue
    from kiln.services.hosting.asyncq.store import RequestStatus

    deadline = time.monotonic() + 60
    while queue.count((ACCOUNT, REGION, endpoint), RequestStatus.IN_PROGRESS) == 0:
        assert time.monotonic() < deadline, "the request was never dispatched"
        time.sleep(0.05)
    time.sleep(0.5)  # inside the model's 3 s
    [pid] = replica_pids(kiln_server, endpoint)
    os.kill(pid, signal.SIGKILL)
    out = wait_object(s3, resp["OutputLocation"], timeout=180)  # requeued, answered by the replacement
    assert out["ContentType"] == "application/json" and json.loads(out["Body"].read())["pid"] != pid
    assert not exists(s3, resp["FailureLocation"])


def test_min_capacity_zero_only_for_async_endpoints(aws_client: Any, endpoint: str) -> None:
    aas = aws_client("application-autoscaling")
    sm = aws_client("sagemaker")
    sm.create_model(ModelName="async-rt-model", PrimaryContainer={"Image": "x/sagemaker-scikit-learn:1"},
                    ExecutionRoleArn="arn:aws:iam::123456789012:role/R")
    sm.create_endpoint_config(EndpointConfigName="async-rt-config",
                              ProductionVariants=[variant("AllTraffic", "async-rt-model")])
    sm.create_endpoint(EndpointName="async-rt-ep", EndpointConfigName="async-rt-config")  # never needs to serve
    try:
        with pytest.raises(ClientError) as refused:
            aas.register_scalable_target(ServiceNamespace="sagemaker",
                                         ResourceId="endpoint/async-rt-ep/variant/AllTraffic",
                                         ScalableDimension="sagemaker:variant:DesiredInstanceCount", MinCapacity=0,
                                         MaxCapacity=2)
        assert _code(refused)[0] == "ValidationException" and "only asynchronous" in _code(refused)[1]
    finally:
        sm.delete_endpoint(EndpointName="async-rt-ep")
    resource = f"endpoint/{endpoint}/variant/AllTraffic"
    aas.register_scalable_target(ServiceNamespace="sagemaker", ResourceId=resource,
                                 ScalableDimension="sagemaker:variant:DesiredInstanceCount", MinCapacity=0,
                                 MaxCapacity=1)
    aas.deregister_scalable_target(ServiceNamespace="sagemaker", ResourceId=resource,
                                   ScalableDimension="sagemaker:variant:DesiredInstanceCount")


def _counts(sm: Any, name: str) -> tuple[str, int, int]:
    d = sm.describe_endpoint(EndpointName=name)
    v = d["ProductionVariants"][0]
    return d["EndpointStatus"], v["DesiredInstanceCount"], v["CurrentInstanceCount"]


def _wait_counts(sm: Any, name: str, count: int, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while _counts(sm, name) != ("InService", count, count):
        assert time.monotonic() < deadline, f"{name} did not reach {count} instances: {_counts(sm, name)}"
        time.sleep(1)


def test_scale_to_zero_and_back_on_the_backlog(aws_client: Any) -> None:
    """The documented setup: a step policy on HasBacklogWithoutCapacity (through a CloudWatch alarm) takes
    an empty variant from 0 to 1; target tracking on ApproximateBacklogSizePerInstance takes it back to 0."""
    sm, s3, rt = aws_client("sagemaker"), aws_client("s3"), aws_client("sagemaker-runtime")
    aas, cw = aws_client("application-autoscaling"), aws_client("cloudwatch")
    url = upload_model(s3, "contract/async-scale/model.tar.gz")
    create_model(sm, "async-scale-model", url)
    sm.create_endpoint_config(EndpointConfigName="async-scale", ProductionVariants=[variant("AllTraffic",
                                                                                             "async-scale-model")],
                              AsyncInferenceConfig={"OutputConfig": {"S3OutputPath": f"s3://{BUCKET}/async-scale"}})
    sm.create_endpoint(EndpointName="async-scale", EndpointConfigName="async-scale")
    assert wait_endpoint(sm, "async-scale")["EndpointStatus"] == "InService"
    resource = "endpoint/async-scale/variant/AllTraffic"
    common = {"ServiceNamespace": "sagemaker", "ResourceId": resource,
              "ScalableDimension": "sagemaker:variant:DesiredInstanceCount"}
    dims = [{"Name": "EndpointName", "Value": "async-scale"}]
    try:
        aas.register_scalable_target(**common, MinCapacity=0, MaxCapacity=2)
        step_arn = aas.put_scaling_policy(**common, PolicyName="HasBacklogWithoutCapacity-ScalingPolicy",
                                          PolicyType="StepScaling", StepScalingPolicyConfiguration={
                                              "AdjustmentType": "ChangeInCapacity", "MetricAggregationType": "Average",
                                              "Cooldown": 30,
                                              "StepAdjustments": [{"MetricIntervalLowerBound": 0,
                                                                   "ScalingAdjustment": 1}]})["PolicyARN"]
        cw.put_metric_alarm(AlarmName="async-scale-backlog-without-capacity", MetricName="HasBacklogWithoutCapacity",
                            Namespace="AWS/SageMaker", Statistic="Average", EvaluationPeriods=1, DatapointsToAlarm=1,
                            Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold", TreatMissingData="missing",
                            Dimensions=dims, Period=10, AlarmActions=[step_arn])
        aas.put_scaling_policy(**common, PolicyName="async-backlog-tracking", PolicyType="TargetTrackingScaling",
                               TargetTrackingScalingPolicyConfiguration={
                                   "TargetValue": 5.0, "ScaleInCooldown": 5, "ScaleOutCooldown": 5,
                                   "CustomizedMetricSpecification": {
                                       "MetricName": "ApproximateBacklogSizePerInstance", "Namespace": "AWS/SageMaker",
                                       "Dimensions": dims, "Statistic": "Average"}})
        _wait_counts(sm, "async-scale", 0)  # an empty queue: in to zero instances
        location = put_input(s3, "async-scale/in.json", {"inputs": [ROW]})
        out = rt.invoke_endpoint_async(EndpointName="async-scale", InputLocation=location)["OutputLocation"]
        assert not exists(s3, out)
        wait_object(s3, out, timeout=240)  # the backlog brought an instance up, which answered
        alarm = cw.describe_alarms(AlarmNames=["async-scale-backlog-without-capacity"])["MetricAlarms"][0]
        assert alarm["AlarmActions"] == [step_arn] and alarm["StateValue"] in ("ALARM", "OK")
        causes = [a["Cause"] for a in aas.describe_scaling_activities(ServiceNamespace="sagemaker",
                                                                      ResourceId=resource)["ScalingActivities"]]
        assert any("async-scale-backlog-without-capacity" in c and "HasBacklogWithoutCapacity-ScalingPolicy" in c
                   for c in causes), causes
        _wait_counts(sm, "async-scale", 0)  # the queue is empty again: back to zero
    finally:
        aas.deregister_scalable_target(**common)
        cw.delete_alarms(AlarmNames=["async-scale-backlog-without-capacity"])
        sm.delete_endpoint(EndpointName="async-scale")
