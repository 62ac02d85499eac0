"""Data capture sampling (InitialSamplingPercentage) and EnableCapture=false, on the live server.
The format, the S3 layout and the flush on shutdown are in tests/e2e/test_hosting_capture.py."""

from __future__ import annotations

import json
from typing import Any

from test_hosting_helpers import BUCKET, create_model, upload_model, variant, wait_endpoint, wait_gone


def _captured(s3: Any, prefix: str) -> int:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
    return sum(len(s3.get_object(Bucket=BUCKET, Key=k)["Body"].read().splitlines()) for k in keys)


def test_sampling_percentage_and_disabled_capture(kiln_server: Any, aws_client: Any, unique_name: str) -> None:
    sm, s3, rt = aws_client("sagemaker"), aws_client("s3"), aws_client("sagemaker-runtime")
    ep = unique_name
    create_model(sm, ep, upload_model(s3, f"capture-sampling/{ep}/model.tar.gz"))
    capture = {"InitialSamplingPercentage": 50, "DestinationS3Uri": f"s3://{BUCKET}/sampled",
               "CaptureOptions": [{"CaptureMode": "InputAndOutput"}]}
    sm.create_endpoint_config(EndpointConfigName=ep, ProductionVariants=[variant("AllTraffic", ep)],
                              DataCaptureConfig={"EnableCapture": True, **capture})
    sm.create_endpoint_config(EndpointConfigName=f"{ep}-off", ProductionVariants=[variant("AllTraffic", ep)],
                              DataCaptureConfig={"EnableCapture": False, **capture,
                                                 "DestinationS3Uri": f"s3://{BUCKET}/off"})
    sm.create_endpoint(EndpointName=ep, EndpointConfigName=ep)
    assert wait_endpoint(sm, ep)["EndpointStatus"] == "InService"
    body = json.dumps([[0.5, -1.0, 0.25, 1.5]])
    for _ in range(400):
        rt.invoke_endpoint(EndpointName=ep, ContentType="application/json", Body=body)
    kiln_server.platform.hosting.capture.flush()
    n = _captured(s3, f"sampled/{ep}/AllTraffic/")
    assert 140 <= n <= 260, n  # binomial(400, 0.5): sd 10, so this is a 6-sigma band

    sm.update_endpoint(EndpointName=ep, EndpointConfigName=f"{ep}-off")
    desc = wait_endpoint(sm, ep, until=("InService",))
    assert desc["DataCaptureConfig"]["CaptureStatus"] == "Stopped"
    for _ in range(20):
        rt.invoke_endpoint(EndpointName=ep, ContentType="application/json", Body=body)
    kiln_server.platform.hosting.capture.flush()
    assert _captured(s3, f"off/{ep}/") == 0
    sm.delete_endpoint(EndpointName=ep)
    wait_gone(sm, ep)
