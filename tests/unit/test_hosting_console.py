"""`kiln endpoints`: the mode and capacity column of each kind of variant."""

from __future__ import annotations

from kiln.services.hosting.console import serverless_instances, variant_mode

SINGLE = {"PrimaryContainer": {"Image": "x", "ModelDataUrl": "s3://b/model.tar.gz"}}
MULTI = {"PrimaryContainer": {"Image": "x", "ModelDataUrl": "s3://b/models/", "Mode": "MultiModel"}}


def test_modes() -> None:
    instance = {"VariantName": "AllTraffic", "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}
    serverless = {"VariantName": "AllTraffic", "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 10}}
    async_config = {"AsyncInferenceConfig": {"OutputConfig": {"S3OutputPath": "s3://b/out"}}}
    assert variant_mode(instance, {}, SINGLE) == ("real-time", "ml.m5.large")
    assert variant_mode(serverless, {}, SINGLE) == ("serverless", "2048 MB, max 10")
    assert variant_mode(instance, async_config, SINGLE) == ("async", "ml.m5.large")
    assert variant_mode(instance, {}, MULTI) == ("real-time, multi-model", "ml.m5.large")
    assert variant_mode({}, {}, {}) == ("real-time", "")  # config or model deleted meanwhile


def test_serverless_instances() -> None:
    assert serverless_instances({"MemorySizeInMB": 2048, "MaxConcurrency": 10}) == "on demand"
    assert serverless_instances({"MaxConcurrency": 10, "ProvisionedConcurrency": 3}) == "3 provisioned + on demand"
