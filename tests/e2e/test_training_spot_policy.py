"""Managed spot under an interruption policy (mean time between interruptions), and MaxWaitTimeInSeconds."""

from __future__ import annotations

from pathlib import Path

from server_proc import ServerProcess
from training_helpers import log_lines, request, sourcedir, wait_for

RESUMABLE = """
import os, time
ck = "/opt/ml/checkpoints/step.txt"
start = int(open(ck).read()) if os.path.exists(ck) else 0
print(f"start at step {start}", flush=True)
for step in range(start, 80):
    time.sleep(0.1)
    open(ck, "w").write(str(step + 1))
print("done", flush=True)
"""


def test_policy_interruptions_and_max_wait(tmp_path: Path) -> None:
    env = {"KILN_SPOT_MTBI_SECONDS": "1.0", "KILN_SPOT_RESTART_DELAY_SECONDS": "0.2", "KILN_STOP_GRACE_SECONDS": "2",
           "KILN_CPU_CAPACITY": "8"}
    server = ServerProcess(tmp_path / "data", **env).wait_healthy()
    try:
        sm, s3, logs = server.client("sagemaker"), server.client("s3"), server.client("logs")
        s3.create_bucket(Bucket="spot")
        for name in ("resumes", "gives-up"):
            s3.put_object(Bucket="spot", Key=f"{name}/source/sourcedir.tar.gz",
                          Body=sourcedir({"train.py": RESUMABLE}))
        sm.create_training_job(**request(
            "resumes", "spot", EnableManagedSpotTraining=True, CheckpointConfig={"S3Uri": "s3://spot/ckpt/resumes/"},
            StoppingCondition={"MaxRuntimeInSeconds": 120, "MaxWaitTimeInSeconds": 600}))
        sm.create_training_job(**request(
            "gives-up", "spot", EnableManagedSpotTraining=True, CheckpointConfig={"S3Uri": "s3://spot/ckpt/gives-up/"},
            StoppingCondition={"MaxRuntimeInSeconds": 2, "MaxWaitTimeInSeconds": 2}))
        done = wait_for(sm, "resumes", timeout=180)
        assert done["TrainingJobStatus"] == "Completed", done.get("FailureReason")
        interruptions = [t for t in done["SecondaryStatusTransitions"] if t["Status"] == "Interrupted"]
        assert interruptions, "an 8-second job with MTBI 1 s goes uninterrupted with odds e^-8"
        starts = [line for line in log_lines(logs, "resumes") if line.startswith("start at step")]
        assert len(starts) == len(interruptions) + 1 and starts[-1] != "start at step 0"
        assert done["BillableTimeInSeconds"] <= done["TrainingTimeInSeconds"]
        gave_up = wait_for(sm, "gives-up", timeout=60)
        assert gave_up["TrainingJobStatus"] == "Stopped"
        assert gave_up["SecondaryStatus"] in ("MaxWaitTimeExceeded", "MaxRuntimeExceeded")
    finally:
        server.terminate()
