"""Endpoint metrics: AWS/SageMaker per endpoint and variant, read back with CloudWatch
GetMetricStatistics / GetMetricData, and the same counters on the Prometheus endpoint."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError
from test_hosting_helpers import create_model, upload_model, variant, wait_endpoint, wait_gone

ROW = [0.5, -1.0, 0.25, 1.5]


def _stat(cw: Any, name: str, dims: list[dict[str, str]], stat: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    points = cw.get_metric_statistics(Namespace="AWS/SageMaker", MetricName=name, Dimensions=dims,
                                      StartTime=now - timedelta(minutes=10), EndTime=now + timedelta(minutes=1),
                                      Period=3600, Statistics=[stat])["Datapoints"]
    assert len(points) == 1, (name, points)
    return dict(points[0])


def test_invocation_metrics_in_cloudwatch_and_prometheus(kiln_server: Any, aws_client: Any, unique_name: str) -> None:
    sm, s3, rt, cw = (aws_client(s) for s in ("sagemaker", "s3", "sagemaker-runtime", "cloudwatch"))
    ep = unique_name
    create_model(sm, ep, upload_model(s3, f"metrics/{ep}/model.tar.gz"))
    sm.create_endpoint_config(EndpointConfigName=ep, ProductionVariants=[variant("AllTraffic", ep, 2)])
    sm.create_endpoint(EndpointName=ep, EndpointConfigName=ep)
    assert wait_endpoint(sm, ep)["EndpointStatus"] == "InService"
    for _ in range(30):
        rt.invoke_endpoint(EndpointName=ep, ContentType="application/json", Body=json.dumps([ROW]))
    for _ in range(3):
        with pytest.raises(ClientError):
            rt.invoke_endpoint(EndpointName=ep, ContentType="application/json", Body=json.dumps({"status": 400}))
    with pytest.raises(ClientError):
        rt.invoke_endpoint(EndpointName=ep, ContentType="application/json", Body=json.dumps({"status": 503}))

    timing = kiln_server.platform.hosting.reconciler.timing
    flush, timing.metrics_flush = timing.metrics_flush, 0.2
    try:
        time.sleep(1.5)
    finally:
        timing.metrics_flush = flush
    dims = [{"Name": "EndpointName", "Value": ep}, {"Name": "VariantName", "Value": "AllTraffic"}]
    assert _stat(cw, "Invocations", dims, "Sum")["Sum"] == 34
    assert _stat(cw, "InvocationsPerInstance", dims, "Sum")["Sum"] == pytest.approx(17)
    assert _stat(cw, "Invocation4XXErrors", dims, "Sum")["Sum"] == 3
    five = _stat(cw, "Invocation5XXErrors", dims, "Average")
    assert five["Average"] == pytest.approx(1 / 34)
    latency = _stat(cw, "ModelLatency", dims, "Average")
    assert latency["Unit"] == "Microseconds" and 0 < latency["Average"] < 5e6
    overhead = _stat(cw, "OverheadLatency", dims, "Maximum")
    assert overhead["Unit"] == "Microseconds" and overhead["Maximum"] > 0
    setup = _stat(cw, "ModelSetupTime", dims, "SampleCount")
    assert setup["SampleCount"] == 2  # one per instance started

    data = cw.get_metric_data(MetricDataQueries=[{
        "Id": "inv", "MetricStat": {"Metric": {"Namespace": "AWS/SageMaker", "MetricName": "Invocations",
                                               "Dimensions": dims}, "Period": 3600, "Stat": "Sum"}}],
        StartTime=datetime.now(UTC) - timedelta(minutes=10), EndTime=datetime.now(UTC) + timedelta(minutes=1))
    assert data["MetricDataResults"][0]["Values"] == [34.0]

    text = httpx.get(f"{kiln_server.url}/_kiln/metrics").text
    labels = f'account="123456789012",region="us-east-1",endpoint="{ep}",variant="AllTraffic"'
    assert f"kiln_endpoint_invocations_total{{{labels}}} 34" in text
    assert f'kiln_endpoint_invocation_errors_total{{{labels},class="4xx"}} 3' in text
    assert f"kiln_endpoint_instances{{{labels}}} 2" in text
    assert f'kiln_endpoint_model_latency_seconds_bucket{{{labels},le="+Inf"}} 34' in text

    sm.delete_endpoint(EndpointName=ep)
    wait_gone(sm, ep)
