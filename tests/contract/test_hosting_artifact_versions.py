"""Model artifacts overwritten in S3 between two endpoints of the same name: the new endpoint serves
the new artifacts, never a copy Kiln cached for the old one (single-model and multi-model)."""

from __future__ import annotations

import json
from typing import Any

from test_hosting_helpers import BUCKET, IMAGE, ROLE, variant, wait_endpoint, wait_gone
from test_hosting_multimodel import _bucket, artifact, deploy_mme, invoke


def _recreate(sm: Any, name: str) -> None:
    sm.delete_endpoint(EndpointName=name)
    wait_gone(sm, name)
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    assert wait_endpoint(sm, name)["EndpointStatus"] == "InService"


def test_single_model_endpoint_recreated_after_the_artifact_changed(aws_client: Any, unique_name: str) -> None:
    sm, s3, rt = aws_client("sagemaker"), aws_client("s3"), aws_client("sagemaker-runtime")
    _bucket(s3)
    key = f"versions/{unique_name}/model.tar.gz"
    s3.put_object(Bucket=BUCKET, Key=key, Body=artifact("v1"))
    sm.create_model(ModelName=unique_name, ExecutionRoleArn=ROLE, PrimaryContainer={
        "Image": IMAGE, "ModelDataUrl": f"s3://{BUCKET}/{key}",
        "Environment": {"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"}})
    sm.create_endpoint_config(EndpointConfigName=unique_name, ProductionVariants=[variant("AllTraffic", unique_name)])
    sm.create_endpoint(EndpointName=unique_name, EndpointConfigName=unique_name)
    assert wait_endpoint(sm, unique_name)["EndpointStatus"] == "InService"

    def tag() -> str:
        out = rt.invoke_endpoint(EndpointName=unique_name, ContentType="application/json",
                                 Body=json.dumps({"inputs": [[1.0, 2.0, 3.0]]}))
        return str(json.loads(out["Body"].read())["tag"])

    assert tag() == "v1"
    s3.put_object(Bucket=BUCKET, Key=key, Body=artifact("v2"))  # retrained, uploaded to the same key
    _recreate(sm, unique_name)
    assert tag() == "v2"
    sm.delete_endpoint(EndpointName=unique_name)


def test_multi_model_endpoint_recreated_after_an_artifact_changed(aws_client: Any, unique_name: str) -> None:
    sm, s3, rt = aws_client("sagemaker"), aws_client("s3"), aws_client("sagemaker-runtime")
    prefix = deploy_mme(sm, s3, unique_name, budget_models=4)
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}customer-A.tar.gz", Body=artifact("A1"))
    assert invoke(rt, unique_name, "customer-A.tar.gz")["tag"] == "A1"
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}customer-A.tar.gz", Body=artifact("A2"))
    _recreate(sm, unique_name)  # within the cache's grace period for a replacement replica
    assert invoke(rt, unique_name, "customer-A.tar.gz")["tag"] == "A2"
    sm.delete_endpoint(EndpointName=unique_name)
