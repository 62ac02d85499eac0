"""The seed's PyTorch and managed-spot examples, run unmodified with the real SageMaker SDK v2.

Each user script runs as a subprocess under the environment `kiln env` prints. The spot run gets a
spot interruption injected mid-training (Kiln-only admin call); it must resume from its checkpoint.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = [pytest.mark.sdk, pytest.mark.slow]

def _project(tmp: Path) -> Path:
    """The demo's project: the seed's scripts (train_pytorch.py, train_spot.py), src/train.py, data."""
    from kiln.demo.runner import lay_out_project

    lay_out_project(tmp)
    return tmp


def _run(script: str, cwd: Path, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, script], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_seed_pytorch_example(kiln_server: Any, tmp_path: Path) -> None:
    proj = _project(tmp_path)
    out = _run("train_pytorch.py", proj, kiln_server.env())
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    # The job's own lines streamed through the SDK's log tail.
    assert "epoch=29 loss=" in out.stdout
    assert "Kiln: ml.p3.2xlarge has 1 GPU(s)" in out.stdout
    assert "nothing to install" in out.stdout
    # ... then the seed's deploy: the same train.py serves (model_fn etc.), predictor.predict and boto3.
    predictions = [line[line.index("{"):] for line in out.stdout.splitlines() if "{'predictions': [" in line]
    assert len(predictions) == 2 and predictions[0] == predictions[1], out.stdout[-2000:]
    assert "Scaling policy: sagemaker-invocations-scaling" in out.stdout
    model_data = next(line for line in out.stdout.splitlines() if line.startswith("s3://") and "model.tar" in line)
    assert model_data.startswith("s3://sagemaker-us-east-1-123456789012/models/pytorch-training-")
    assert model_data.endswith("/output/model.tar.gz")
    bucket, key = model_data[5:].split("/", 1)
    body = kiln_server.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    import io
    import tarfile

    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        assert "model.pth" in tar.getnames()


def test_seed_spot_example_resumes_after_interruption(kiln_server: Any, tmp_path: Path) -> None:
    proj = _project(tmp_path)
    sm = kiln_server.client("sagemaker")
    s3 = kiln_server.client("s3")
    if "sagemaker-us-east-1-123456789012" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        s3.create_bucket(Bucket="sagemaker-us-east-1-123456789012")
    s3.upload_file(str(proj / "data" / "train.csv"), "sagemaker-us-east-1-123456789012", "data/train/train.csv")
    proc = subprocess.Popen([sys.executable, "train_spot.py"], cwd=proj, env=kiln_server.env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        job = _wait_for_checkpoint(sm, s3)
        r = httpx.post(f"{kiln_server.url}/_kiln/training-jobs/{job}/interrupt")
        assert r.status_code == 200, r.text
        stdout, _ = proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert proc.returncode == 0, stdout[-4000:]
    assert "Resuming from checkpoint: epoch" in stdout
    assert "epoch=49 loss=" in stdout
    assert "Managed Spot Training savings:" in stdout
    savings = float(stdout.split("Spot savings: ")[1].split("%")[0])
    assert 50 < savings < 100
    desc = sm.describe_training_job(TrainingJobName=job)
    assert desc["TrainingJobStatus"] == "Completed"
    statuses = [t["Status"] for t in desc["SecondaryStatusTransitions"]]
    assert "Interrupted" in statuses and statuses[-1] == "Completed"


def _wait_for_checkpoint(sm: Any, s3: Any, timeout: float = 120) -> str:
    deadline = time.time() + timeout
    while time.time() < deadline:
        jobs = sm.list_training_jobs(StatusEquals="InProgress", NameContains="pytorch-training")
        for summary in jobs["TrainingJobSummaries"]:
            listed = s3.list_objects_v2(Bucket="sagemaker-us-east-1-123456789012", Prefix="checkpoints/my-job/")
            if summary["SecondaryStatus"] == "Training" and listed.get("KeyCount", 0) > 0:
                return str(summary["TrainingJobName"])
        time.sleep(0.3)
    raise AssertionError("the spot job never wrote a checkpoint")
