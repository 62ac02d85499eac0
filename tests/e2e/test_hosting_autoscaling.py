"""Autoscaling for real: a `kiln server` subprocess (short evaluation window and cooldowns), an
endpoint with the seed's target tracking policy on SageMakerVariantInvocationsPerInstance, load that
drives it from 1 to 3 instances, then quiet that brings it back to 1 after the scale-in cooldown."""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "contract"))
from test_hosting_helpers import create_model, upload_model, variant, wait_endpoint

from server_proc import ServerProcess, job_pids

pytestmark = [pytest.mark.slow]
RID = "endpoint/scaled/variant/AllTraffic"
DIM = "sagemaker:variant:DesiredInstanceCount"


def _instances(sm: Any) -> tuple[int, int, str]:
    desc = sm.describe_endpoint(EndpointName="scaled")
    v = desc["ProductionVariants"][0]
    return v["CurrentInstanceCount"], v["DesiredInstanceCount"], desc["EndpointStatus"]


def _wait_for(sm: Any, count: int, timeout: float) -> list[tuple[float, int, int, str]]:
    seen = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        state = _instances(sm)
        if not seen or seen[-1][1:] != state:
            seen.append((round(time.time(), 1), *state))
        if state == (count, count, "InService"):
            return seen
        time.sleep(0.5)
    raise AssertionError(f"never reached {count} instances: {seen}")


def test_scale_out_under_load_and_back_in(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", KILN_HOSTING_AUTOSCALING_INTERVAL_SECONDS="1",
                           KILN_HOSTING_AUTOSCALING_WINDOW_SECONDS="4",
                           KILN_HOSTING_METRICS_FLUSH_SECONDS="1").wait_healthy()
    try:
        sm, s3, rt = server.client("sagemaker"), server.client("s3"), server.client("sagemaker-runtime")
        aas = server.client("application-autoscaling")
        create_model(sm, "scaled", upload_model(s3, "scaled/model.tar.gz"))
        sm.create_endpoint_config(EndpointConfigName="scaled", ProductionVariants=[variant("AllTraffic", "scaled")])
        sm.create_endpoint(EndpointName="scaled", EndpointConfigName="scaled")
        assert wait_endpoint(sm, "scaled")["EndpointStatus"] == "InService"
        aas.register_scalable_target(ServiceNamespace="sagemaker", ResourceId=RID, ScalableDimension=DIM,
                                     MinCapacity=1, MaxCapacity=3)
        aas.put_scaling_policy(
            PolicyName="invocations", ServiceNamespace="sagemaker", ResourceId=RID, ScalableDimension=DIM,
            PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration={
                "TargetValue": 120.0,  # invocations per instance per minute: 2 requests/s each
                "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
                "ScaleInCooldown": 5, "ScaleOutCooldown": 3})

        stop = threading.Event()
        errors: list[str] = []
        served = [0]

        def load() -> None:
            body = json.dumps({"inputs": [[0.5, -1.0, 0.25, 1.5]]})
            while not stop.is_set():
                try:
                    rt.invoke_endpoint(EndpointName="scaled", ContentType="application/json", Body=body)
                    served[0] += 1
                except Exception as exc:
                    errors.append(repr(exc))
                time.sleep(0.01)

        threads = [threading.Thread(target=load, daemon=True) for _ in range(2)]
        for t in threads:
            t.start()
        try:
            out = _wait_for(sm, 3, timeout=150)
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=30)
        assert errors == [], errors[:3]
        assert served[0] > 100
        back = _wait_for(sm, 1, timeout=150)
        assert back[-1][1:] == (1, 1, "InService"), (out, back)

        activities = aas.describe_scaling_activities(ServiceNamespace="sagemaker", ResourceId=RID)["ScalingActivities"]
        descriptions = [a["Description"] for a in activities]
        assert descriptions[0] == "Setting desired instance count to 1."  # newest first
        assert "Setting desired instance count to 3." in descriptions
        assert all(a["StatusCode"] == "Successful" for a in activities[1:])
        assert "triggered policy invocations" in activities[0]["Cause"]
    finally:
        assert server.terminate() in (0, -signal.SIGTERM)
    time.sleep(1)
    assert not job_pids(Path(f"{(tmp_path / 'data').resolve()}#hosting"))  # replicas went with the server
