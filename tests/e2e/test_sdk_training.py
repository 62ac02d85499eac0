"""The seed's PyTorch and managed-spot examples, run unmodified with the real SageMaker SDK v2.

Each user script runs as a subprocess under the environment `kiln env` prints. The spot run gets a
spot interruption injected mid-training (Kiln-only admin call); it must resume from its checkpoint.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = [pytest.mark.sdk, pytest.mark.slow]

TRAIN_PY = """
import argparse, glob, json, os, time
import numpy as np
import torch

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=5)
parser.add_argument("--batch-size", type=int, default=16)
parser.add_argument("--learning-rate", type=float, default=0.05)
args = parser.parse_args()

def load(channel):
    files = glob.glob(os.path.join(os.environ[f"SM_CHANNEL_{channel.upper()}"], "*.csv"))
    data = np.concatenate([np.loadtxt(f, delimiter=",", ndmin=2) for f in files])
    return torch.tensor(data[:, 1:], dtype=torch.float32), torch.tensor(data[:, :1], dtype=torch.float32)

x, y = load("train")
model = torch.nn.Linear(x.shape[1], 1)
opt = torch.optim.SGD(model.parameters(), lr=args.learning_rate)
ckpt_dir = "/opt/ml/checkpoints"
start = 0
if os.path.exists(os.path.join(ckpt_dir, "checkpoint.pt")):
    state = torch.load(os.path.join(ckpt_dir, "checkpoint.pt"))
    model.load_state_dict(state["model"]); opt.load_state_dict(state["opt"]); start = state["epoch"] + 1
    print(f"Resuming from checkpoint at epoch {start}")
for epoch in range(start, args.epochs):
    for i in range(0, len(x), args.batch_size):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x[i:i + args.batch_size]), y[i:i + args.batch_size])
        loss.backward(); opt.step()
    full = torch.nn.functional.mse_loss(model(x), y).item()
    print(f"epoch={epoch} loss={full:.6f}", flush=True)
    if os.path.isdir(ckpt_dir):
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "epoch": epoch},
                   os.path.join(ckpt_dir, "checkpoint.pt"))
        time.sleep(float(os.environ.get("EPOCH_SLEEP", "0")))
if "SM_CHANNEL_VAL" in os.environ:
    vx, vy = load("val")
    print(f"val_loss={torch.nn.functional.mse_loss(model(vx), vy).item():.6f}")
torch.save(model.state_dict(), os.path.join(os.environ["SM_MODEL_DIR"], "model.pth"))
"""

SEED_PYTORCH = """
import boto3
import sagemaker
from sagemaker.pytorch import PyTorch
sess = sagemaker.Session()
role = sagemaker.get_execution_role()
bucket = sess.default_bucket()
sess.upload_data("data/train.csv", bucket, "data/train")
sess.upload_data("data/val.csv", bucket, "data/val")
estimator = PyTorch(
    entry_point="train.py",
    source_dir="./src",
    role=role,
    instance_type="ml.p3.2xlarge",
    instance_count=1,
    framework_version="2.1",
    py_version="py310",
    hyperparameters={"epochs": 30, "batch-size": 64, "learning-rate": 0.001},
    output_path=f"s3://{bucket}/models/",
    environment={"WANDB_DISABLED": "true"},
)
estimator.fit({"train": f"s3://{bucket}/data/train/", "val": f"s3://{bucket}/data/val/"})
print("MODEL_DATA", estimator.model_data)
"""

SEED_SPOT = """
import boto3
import sagemaker
from sagemaker.pytorch import PyTorch
sess = sagemaker.Session()
role = sagemaker.get_execution_role()
bucket = sess.default_bucket()
estimator = PyTorch(
    entry_point="train.py",
    source_dir="./src",
    role=role,
    instance_type="ml.p3.2xlarge",
    instance_count=1,
    framework_version="2.1",
    py_version="py310",
    use_spot_instances=True,
    max_run=7200,
    max_wait=10800,
    checkpoint_s3_uri=f"s3://{bucket}/checkpoints/my-job/",
    checkpoint_local_path="/opt/ml/checkpoints",
    hyperparameters={"epochs": 50},
    environment={"EPOCH_SLEEP": "0.2"},
)
estimator.fit({"train": f"s3://{bucket}/data/train/"})
job_name = estimator.latest_training_job.name
sm = boto3.client("sagemaker")
desc = sm.describe_training_job(TrainingJobName=job_name)
billed = desc["BillableTimeInSeconds"]
total = desc["TrainingTimeInSeconds"]
savings = round((1 - billed / total) * 100, 1)
print(f"Spot savings: {savings}% (billed {billed}s of {total}s)")
print("JOB", job_name)
"""


def _project(tmp: Path) -> Path:
    src = tmp / "src"
    src.mkdir(parents=True)
    (src / "train.py").write_text(textwrap.dedent(TRAIN_PY))
    (src / "requirements.txt").write_text("numpy\n")
    data = tmp / "data"
    data.mkdir()
    import numpy as np

    rng = np.random.default_rng(0)
    for name, n in (("train", 256), ("val", 64)):
        x = rng.normal(size=(n, 4))
        y = x @ np.array([1.0, -2.0, 0.5, 3.0]) + 0.1
        np.savetxt(data / f"{name}.csv", np.column_stack([y, x]), delimiter=",")
    return tmp


def _run(script: str, cwd: Path, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    (cwd / "user_script.py").write_text(textwrap.dedent(script))
    return subprocess.run([sys.executable, "user_script.py"], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_seed_pytorch_example(kiln_server: Any, tmp_path: Path) -> None:
    proj = _project(tmp_path)
    out = _run(SEED_PYTORCH, proj, kiln_server.env())
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    # The job's own lines streamed through the SDK's log tail.
    assert "epoch=29 loss=" in out.stdout
    assert "Kiln: ml.p3.2xlarge has 1 GPU(s)" in out.stdout
    assert "nothing to install" in out.stdout
    model_data = next(line.split()[1] for line in out.stdout.splitlines() if line.startswith("MODEL_DATA"))
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
    (proj / "user_script.py").write_text(textwrap.dedent(SEED_SPOT))
    proc = subprocess.Popen([sys.executable, "user_script.py"], cwd=proj, env=kiln_server.env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        job = _wait_for_checkpoint(sm, s3)
        r = httpx.post(f"{kiln_server.url}/_kiln/training-jobs/{job}/interrupt")
        assert r.status_code == 200, r.text
        stdout, _ = proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert proc.returncode == 0, stdout[-4000:]
    assert "Resuming from checkpoint at epoch" in stdout
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
