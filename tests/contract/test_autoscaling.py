"""Application Auto Scaling with boto3 against a live server: scalable targets, target tracking
policies (predefined and customized metrics), activities, errors. The loop's behaviour under load is
in tests/e2e/test_hosting_autoscaling.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from test_hosting_helpers import create_model, variant, wait_endpoint, wait_gone

DIM = "sagemaker:variant:DesiredInstanceCount"


@pytest.fixture(scope="module")
def failed_endpoint(aws_client: Any) -> Iterator[str]:
    """An endpoint that exists (Failed: its model data is missing), enough to register targets on."""
    sm = aws_client("sagemaker")
    create_model(sm, "aas-model", "s3://kiln-hosting-tests/missing/model.tar.gz")
    sm.create_endpoint_config(EndpointConfigName="aas-endpoint",
                              ProductionVariants=[variant("AllTraffic", "aas-model")])
    sm.create_endpoint(EndpointName="aas-endpoint", EndpointConfigName="aas-endpoint")
    wait_endpoint(sm, "aas-endpoint")
    yield "aas-endpoint"
    sm.delete_endpoint(EndpointName="aas-endpoint")
    wait_gone(sm, "aas-endpoint")


def test_targets_and_policies(aws_client: Any, failed_endpoint: str) -> None:
    aas = aws_client("application-autoscaling")
    rid = f"endpoint/{failed_endpoint}/variant/AllTraffic"
    arn = aas.register_scalable_target(ServiceNamespace="sagemaker", ResourceId=rid, ScalableDimension=DIM,
                                       MinCapacity=1, MaxCapacity=4)["ScalableTargetARN"]
    assert arn.startswith("arn:aws:application-autoscaling:us-east-1:123456789012:scalable-target/")
    (target,) = aas.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[rid])["ScalableTargets"]
    assert (target["MinCapacity"], target["MaxCapacity"], target["ScalableTargetARN"]) == (1, 4, arn)
    # re-registering updates in place
    aas.register_scalable_target(ServiceNamespace="sagemaker", ResourceId=rid, ScalableDimension=DIM, MaxCapacity=6)
    (target,) = aas.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[rid])["ScalableTargets"]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (1, 6)

    out = aas.put_scaling_policy(
        PolicyName="invocations", ServiceNamespace="sagemaker", ResourceId=rid, ScalableDimension=DIM,
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 70.0, "ScaleInCooldown": 60, "ScaleOutCooldown": 60,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"}})
    assert ":scalingPolicy:" in out["PolicyARN"] and out["PolicyARN"].endswith("policyName/invocations")
    assert {a["AlarmName"].split("-")[-6] for a in out["Alarms"]} == {"AlarmHigh", "AlarmLow"}
    aas.put_scaling_policy(
        PolicyName="latency", ServiceNamespace="sagemaker", ResourceId=rid, ScalableDimension=DIM,
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 50000.0,
            "CustomizedMetricSpecification": {"MetricName": "ModelLatency", "Namespace": "AWS/SageMaker",
                                              "Dimensions": [{"Name": "EndpointName", "Value": failed_endpoint},
                                                             {"Name": "VariantName", "Value": "AllTraffic"}],
                                              "Statistic": "Average", "Unit": "Microseconds"}})
    policies = aas.describe_scaling_policies(ServiceNamespace="sagemaker", ResourceId=rid)["ScalingPolicies"]
    assert [p["PolicyName"] for p in policies] == ["invocations", "latency"]
    assert policies[0]["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] == 70.0
    named = aas.describe_scaling_policies(ServiceNamespace="sagemaker", PolicyNames=["latency"])["ScalingPolicies"]
    assert [p["PolicyName"] for p in named] == ["latency"]
    assert aas.describe_scaling_activities(ServiceNamespace="sagemaker", ResourceId=rid)["ScalingActivities"] == []

    aas.delete_scaling_policy(PolicyName="latency", ServiceNamespace="sagemaker", ResourceId=rid,
                              ScalableDimension=DIM)
    aas.deregister_scalable_target(ServiceNamespace="sagemaker", ResourceId=rid, ScalableDimension=DIM)
    assert aas.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[rid])["ScalableTargets"] == []
    assert aas.describe_scaling_policies(ServiceNamespace="sagemaker", ResourceId=rid)["ScalingPolicies"] == []


def test_errors(aws_client: Any, failed_endpoint: str) -> None:
    aas = aws_client("application-autoscaling")
    rid = f"endpoint/{failed_endpoint}/variant/AllTraffic"
    config = {"TargetValue": 1.0,
              "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"}}
    with pytest.raises(ClientError) as unregistered:
        aas.put_scaling_policy(PolicyName="p", ServiceNamespace="sagemaker", ResourceId=rid, ScalableDimension=DIM,
                               PolicyType="TargetTrackingScaling", TargetTrackingScalingPolicyConfiguration=config)
    assert unregistered.value.response["Error"]["Code"] == "ObjectNotFoundException"
    assert "No scalable target registered" in unregistered.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as deregister:
        aas.deregister_scalable_target(ServiceNamespace="sagemaker", ResourceId=rid, ScalableDimension=DIM)
    assert deregister.value.response["Error"]["Code"] == "ObjectNotFoundException"
    with pytest.raises(ClientError) as no_endpoint:
        aas.register_scalable_target(ServiceNamespace="sagemaker", ResourceId="endpoint/nope/variant/AllTraffic",
                                     ScalableDimension=DIM, MinCapacity=1, MaxCapacity=2)
    assert no_endpoint.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as bounds:
        aas.register_scalable_target(ServiceNamespace="sagemaker", ResourceId=rid, ScalableDimension=DIM,
                                     MinCapacity=3, MaxCapacity=2)
    assert bounds.value.response["Error"]["Code"] == "ValidationException"
