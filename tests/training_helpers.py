"""Helpers for training-job tests: source archives, request bodies, waiting."""

from __future__ import annotations

import io
import tarfile
import textwrap
import time
from typing import Any

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
ROLE = "arn:aws:iam::123456789012:role/KilnExecutionRole"


def sourcedir(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in files.items():
            data = textwrap.dedent(text).encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def request(name: str, bucket: str, *, hps: dict[str, str] | None = None, channels: dict[str, str] | None = None,
            max_runtime: int = 120, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "TrainingJobName": name,
        "RoleArn": ROLE,
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File",
                                   "MetricDefinitions": [{"Name": "loss", "Regex": "loss=([0-9.]+)"}]},
        "HyperParameters": {"sagemaker_program": '"train.py"',
                            "sagemaker_submit_directory": f'"s3://{bucket}/{name}/source/sourcedir.tar.gz"',
                            **(hps or {})},
        "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/out/"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        "StoppingCondition": {"MaxRuntimeInSeconds": max_runtime},
    }
    if channels:
        body["InputDataConfig"] = [
            {"ChannelName": ch, "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri,
                                                                "S3DataDistributionType": "FullyReplicated"}}}
            for ch, uri in channels.items()]
    body.update(extra)
    return body


def wait_for(sm: Any, name: str, *, until: tuple[str, ...] = ("Completed", "Failed", "Stopped"),
             secondary: str | None = None, timeout: float = 120) -> dict[str, Any]:
    deadline = time.time() + timeout
    while True:
        desc = sm.describe_training_job(TrainingJobName=name)
        if secondary is not None and desc["SecondaryStatus"] == secondary:
            return desc
        if secondary is None and desc["TrainingJobStatus"] in until:
            return desc
        if time.time() > deadline:
            raise AssertionError(f"{name} stuck in {desc['TrainingJobStatus']}/{desc['SecondaryStatus']}")
        time.sleep(0.2)


def log_lines(logs: Any, name: str) -> list[str]:
    streams = logs.describe_log_streams(logGroupName="/aws/sagemaker/TrainingJobs",
                                        logStreamNamePrefix=f"{name}/")["logStreams"]
    out: list[str] = []
    for s in streams:
        events = logs.get_log_events(logGroupName="/aws/sagemaker/TrainingJobs", logStreamName=s["logStreamName"],
                                     startFromHead=True)["events"]
        out += [e["message"] for e in events]
    return out
