"""`kiln jobs` and `kiln spot interrupt` against a live server."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

from server_proc import clean_env
from training_helpers import request, sourcedir, wait_for

SCRIPT = """
import os, time
ck = "/opt/ml/checkpoints/n"
n = int(open(ck).read()) if os.path.exists(ck) else 0
print(f"from {n}", flush=True)
for i in range(n, 100):
    open(ck, "w").write(str(i + 1)); time.sleep(0.1)
"""


def kiln(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kiln", *args], capture_output=True, text=True,
                          env=clean_env(COLUMNS="250"), timeout=60)


def test_jobs_and_spot_interrupt(kiln_server: Any, unique_name: str) -> None:
    sm, s3 = kiln_server.client("sagemaker"), kiln_server.client("s3")
    bucket = "kiln-cli-training"
    if bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key=f"{unique_name}/source/sourcedir.tar.gz", Body=sourcedir({"train.py": SCRIPT}))
    sm.create_training_job(**request(unique_name, bucket, EnableManagedSpotTraining=True,
                                     CheckpointConfig={"S3Uri": f"s3://{bucket}/ckpt/{unique_name}/"},
                                     StoppingCondition={"MaxRuntimeInSeconds": 120, "MaxWaitTimeInSeconds": 300}))
    wait_for(sm, unique_name, secondary="Training")
    deadline = time.time() + 60
    while s3.list_objects_v2(Bucket=bucket, Prefix=f"ckpt/{unique_name}/").get("KeyCount", 0) == 0:
        assert time.time() < deadline, "no checkpoint was uploaded"
        time.sleep(0.2)
    out = kiln("spot", "interrupt", unique_name, "--endpoint", kiln_server.url)
    assert out.returncode == 0, out.stderr
    assert f"interrupted {unique_name}" in out.stdout
    done = wait_for(sm, unique_name)
    assert done["TrainingJobStatus"] == "Completed"
    listing = kiln("jobs", "--endpoint", kiln_server.url, "--limit", "100")
    assert listing.returncode == 0, listing.stderr
    assert unique_name[:20] in listing.stdout and "Completed" in listing.stdout
    printed = kiln("job-logs", unique_name, "--endpoint", kiln_server.url)
    assert printed.returncode == 0 and "from 0" in printed.stdout and "from 0\n" not in printed.stdout[-8:]
    assert [line for line in printed.stdout.splitlines() if line.startswith("from ")][-1] != "from 0"
    missing = kiln("spot", "interrupt", "no-such-job", "--endpoint", kiln_server.url)
    assert missing.returncode == 1 and missing.stderr.startswith("kiln: ")
    down = kiln("jobs", "--endpoint", "http://127.0.0.1:9")
    assert down.returncode == 1 and "no Kiln server answering" in down.stderr
