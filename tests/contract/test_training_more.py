"""More training behaviour: multi-host torch_distributed over loopback, sharded and manifest channels,
requirements cached by content, metrics readable through CloudWatch."""

from __future__ import annotations

import io
import json
import tarfile
import time
from typing import Any

import pytest

from training_helpers import log_lines, request, sourcedir, wait_for

DDP = """
import json, os, socket
import torch
import torch.distributed as dist
dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
t = torch.tensor([float(rank + 1)])
dist.all_reduce(t)
files = sorted(os.listdir(os.environ["SM_CHANNEL_TRAIN"]))
print(f"rank={rank} world={world} sum={t.item()} host={os.environ['SM_CURRENT_HOST']} "
      f"master={os.environ['MASTER_ADDR']} resolves={socket.gethostbyname('algo-2')} files={files}", flush=True)
if rank == 0:
    open(os.path.join(os.environ["SM_MODEL_DIR"], "ddp.json"), "w").write(json.dumps({"sum": t.item()}))
dist.destroy_process_group()
"""


@pytest.fixture(scope="module")
def bucket(aws_client: Any) -> str:
    s3 = aws_client("s3")
    name = "kiln-training-more"
    s3.create_bucket(Bucket=name)
    for i in range(4):
        s3.put_object(Bucket=name, Key=f"shards/part-{i}.csv", Body=f"{i}\n".encode())
    return name


def test_torch_distributed_two_hosts(aws_client: Any, bucket: str, unique_name: str) -> None:
    sm, s3, logs = aws_client("sagemaker"), aws_client("s3"), aws_client("logs")
    s3.put_object(Bucket=bucket, Key=f"{unique_name}/source/sourcedir.tar.gz", Body=sourcedir({"train.py": DDP}))
    body = request(unique_name, bucket, hps={"sagemaker_torch_distributed_enabled": "true"})
    body["AlgorithmSpecification"]["TrainingImage"] = (
        "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.1.0-cpu-py310")
    body["ResourceConfig"]["InstanceCount"] = 2
    body["InputDataConfig"] = [{"ChannelName": "train", "DataSource": {"S3DataSource": {
        "S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/shards/", "S3DataDistributionType": "ShardedByS3Key"}}}]
    sm.create_training_job(**body)
    desc = wait_for(sm, unique_name, timeout=180)
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    streams = logs.describe_log_streams(logGroupName="/aws/sagemaker/TrainingJobs",
                                        logStreamNamePrefix=f"{unique_name}/")["logStreams"]
    assert sorted(s["logStreamName"].split("/")[1].rsplit("-", 1)[0] for s in streams) == ["algo-1", "algo-2"]
    lines = [line for line in log_lines(logs, unique_name) if line.startswith("rank=")]
    assert len(lines) == 2 and all("world=2 sum=3.0" in line for line in lines)
    assert any("host=algo-1" in line and "files=['part-0.csv', 'part-2.csv']" in line for line in lines)
    assert any("host=algo-2" in line and "files=['part-1.csv', 'part-3.csv']" in line for line in lines)
    key = f"out/{unique_name}/output/model.tar.gz"
    with tarfile.open(fileobj=io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read())) as tar:
        assert json.loads(tar.extractfile("ddp.json").read()) == {"sum": 3.0}  # type: ignore[union-attr]


def test_manifest_channel(aws_client: Any, bucket: str, unique_name: str) -> None:
    sm, s3, logs = aws_client("sagemaker"), aws_client("s3"), aws_client("logs")
    manifest = json.dumps([{"prefix": f"s3://{bucket}/shards/"}, "part-1.csv", "part-3.csv"])
    s3.put_object(Bucket=bucket, Key=f"{unique_name}/manifest.json", Body=manifest.encode())
    script = "import os\nprint('got', sorted(os.listdir(os.environ['SM_CHANNEL_TRAIN'])))\n"
    s3.put_object(Bucket=bucket, Key=f"{unique_name}/source/sourcedir.tar.gz", Body=sourcedir({"train.py": script}))
    body = request(unique_name, bucket)
    body["InputDataConfig"] = [{"ChannelName": "train", "DataSource": {"S3DataSource": {
        "S3DataType": "ManifestFile", "S3Uri": f"s3://{bucket}/{unique_name}/manifest.json"}}}]
    sm.create_training_job(**body)
    assert wait_for(sm, unique_name)["TrainingJobStatus"] == "Completed"
    assert "got ['part-1.csv', 'part-3.csv']" in log_lines(logs, unique_name)


def test_requirements_installed_once(aws_client: Any, bucket: str, unique_name: str) -> None:
    sm, s3, logs = aws_client("sagemaker"), aws_client("s3"), aws_client("logs")
    files = {"train.py": "import numpy\nprint('numpy', numpy.__version__)\n",
             "requirements.txt": f"numpy  # {unique_name}\n"}
    names = [f"{unique_name}-a", f"{unique_name}-b"]
    for name in names:
        s3.put_object(Bucket=bucket, Key=f"{name}/source/sourcedir.tar.gz", Body=sourcedir(files))
        sm.create_training_job(**request(name, bucket))
        assert wait_for(sm, name)["TrainingJobStatus"] == "Completed"
    first, second = (log_lines(logs, n) for n in names)
    assert any("already in the runtime" in line for line in first)
    assert any("already installed (cache" in line for line in second)


def test_metrics_reach_cloudwatch(aws_client: Any, bucket: str, unique_name: str) -> None:
    sm, s3, cw = aws_client("sagemaker"), aws_client("s3"), aws_client("cloudwatch")
    script = "for i in range(5):\n    print(f'epoch={i} loss={10 - i}.0', flush=True)\n"
    s3.put_object(Bucket=bucket, Key=f"{unique_name}/source/sourcedir.tar.gz", Body=sourcedir({"train.py": script}))
    sm.create_training_job(**request(unique_name, bucket))
    desc = wait_for(sm, unique_name)
    assert desc["FinalMetricDataList"][0]["Value"] == 6.0
    stats = cw.get_metric_statistics(
        Namespace="/aws/sagemaker/TrainingJobs", MetricName="loss",
        Dimensions=[{"Name": "TrainingJobName", "Value": unique_name}],
        StartTime=time.time() - 600, EndTime=time.time() + 60, Period=60, Statistics=["Average", "SampleCount"])
    points = stats["Datapoints"]
    assert sum(p["SampleCount"] for p in points) == 5
    assert min(p["Average"] for p in points) <= 8.0
