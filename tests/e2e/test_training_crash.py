"""SIGKILL the server with training jobs running, start it again: every job ends honestly."""

from __future__ import annotations

import time
from pathlib import Path

from server_proc import ServerProcess, job_pids
from training_helpers import log_lines, request, sourcedir, wait_for

SPOT_SCRIPT = """
import os, time
ck = "/opt/ml/checkpoints/step.txt"
start = int(open(ck).read()) if os.path.exists(ck) else 0
if start:
    print(f"resumed at step {start}", flush=True)
for step in range(start, 40):
    open(ck, "w").write(str(step + 1))
    print(f"step {step}", flush=True)
    time.sleep(0.1)
"""


def test_kill_server_mid_training(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {"KILN_STOP_GRACE_SECONDS": "2", "KILN_CPU_CAPACITY": "8"}
    server = ServerProcess(data, **env).wait_healthy()
    sm, s3 = server.client("sagemaker"), server.client("s3")
    s3.create_bucket(Bucket="crash")
    s3.put_object(Bucket="crash", Key="plain/source/sourcedir.tar.gz",
                  Body=sourcedir({"train.py": "import time\nprint('working', flush=True)\ntime.sleep(600)\n"}))
    s3.put_object(Bucket="crash", Key="spot/source/sourcedir.tar.gz", Body=sourcedir({"train.py": SPOT_SCRIPT}))
    sm.create_training_job(**request("plain", "crash"))
    sm.create_training_job(**request("spot", "crash", EnableManagedSpotTraining=True,
                                     StoppingCondition={"MaxRuntimeInSeconds": 120, "MaxWaitTimeInSeconds": 300},
                                     CheckpointConfig={"S3Uri": "s3://crash/ckpt/spot/"}))
    wait_for(sm, "plain", secondary="Training")
    wait_for(sm, "spot", secondary="Training")
    deadline = time.time() + 30
    while s3.list_objects_v2(Bucket="crash", Prefix="ckpt/spot/").get("KeyCount", 0) == 0:
        assert time.time() < deadline, "no checkpoint uploaded"
        time.sleep(0.2)
    old = job_pids(data)
    assert old, "job processes should be running"
    server.kill()
    time.sleep(0.5)
    assert job_pids(data) <= old  # nothing new started while the server is down

    server = ServerProcess(data, port=server.port, **env).wait_healthy()
    try:
        sm, logs = server.client("sagemaker"), server.client("logs")
        assert not (job_pids(data) & old), "orphaned job processes survived the restart"
        plain = wait_for(sm, "plain")
        assert plain["TrainingJobStatus"] == "Failed"
        assert "Kiln server stopped while this job was running" in plain["FailureReason"]
        spot = wait_for(sm, "spot", timeout=120)
        assert spot["TrainingJobStatus"] == "Completed", spot.get("FailureReason")
        assert "Interrupted" in [t["Status"] for t in spot["SecondaryStatusTransitions"]]
        assert any(line.startswith("resumed at step") for line in log_lines(logs, "spot"))
    finally:
        server.terminate()
