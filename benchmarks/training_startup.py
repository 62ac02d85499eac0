"""Training-job start-up overhead: CreateTrainingJob -> the script's first printed line.

Runs a Kiln server in a subprocess on a temp data dir, submits N jobs one after another whose
script prints a line first thing, and takes the time from the CreateTrainingJob call to that line's
CloudWatch Logs event timestamp (stamped when Kiln reads the line from the process). The baseline,
in the same run, is the same script started directly with `python` (spawn -> first line read).
Goal: median overhead under 0.5 s (the managed service takes minutes).

    python benchmarks/training_startup.py [--jobs 20]
"""

from __future__ import annotations

import argparse
import io
import os
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import boto3
import httpx

SCRIPT = b"print('first line', flush=True)\n"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    code = ("from kiln.config import Settings; from kiln.app import build_app; import uvicorn; "
            f"uvicorn.run(build_app(Settings(data_dir={str(data_dir)!r}, port={port})), host='127.0.0.1', "
            f"port={port}, log_level='warning')")
    proc = subprocess.Popen([sys.executable, "-c", code])
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{url}/_kiln/health").status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError("server did not start")


def baseline(runs: int) -> list[float]:
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "train.py")
        path.write_bytes(SCRIPT)
        for _ in range(runs):
            t0 = time.perf_counter()
            p = subprocess.Popen([sys.executable, str(path)], stdout=subprocess.PIPE)
            assert p.stdout is not None
            p.stdout.readline()
            out.append(time.perf_counter() - t0)
            p.wait()
    return out


def kiln_runs(url: str, runs: int) -> list[float]:
    kw = {"endpoint_url": url, "region_name": "us-east-1", "aws_access_key_id": "k", "aws_secret_access_key": "k"}
    sm, s3, logs = boto3.client("sagemaker", **kw), boto3.client("s3", **kw), boto3.client("logs", **kw)
    s3.create_bucket(Bucket="bench")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("train.py")
        info.size = len(SCRIPT)
        tar.addfile(info, io.BytesIO(SCRIPT))
    s3.put_object(Bucket="bench", Key="src/sourcedir.tar.gz", Body=buf.getvalue())
    out = []
    for i in range(runs):
        name = f"startup-{i}-{int(time.time())}"
        t0 = time.time()
        sm.create_training_job(
            TrainingJobName=name, RoleArn="arn:aws:iam::123456789012:role/R",
            AlgorithmSpecification={"TrainingImage": IMAGE, "TrainingInputMode": "File"},
            HyperParameters={"sagemaker_program": '"train.py"',
                             "sagemaker_submit_directory": '"s3://bench/src/sourcedir.tar.gz"'},
            OutputDataConfig={"S3OutputPath": "s3://bench/out/"},
            ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
            StoppingCondition={"MaxRuntimeInSeconds": 60})
        first = None
        while first is None:
            streams = logs.describe_log_streams(logGroupName="/aws/sagemaker/TrainingJobs",
                                                logStreamNamePrefix=f"{name}/")["logStreams"] \
                if _group_exists(logs) else []
            for s in streams:
                events = logs.get_log_events(logGroupName="/aws/sagemaker/TrainingJobs",
                                             logStreamName=s["logStreamName"], startFromHead=True)["events"]
                first = next((e["timestamp"] / 1000 for e in events if e["message"] == "first line"), None)
            time.sleep(0.01)
        out.append(first - t0)
        while sm.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] == "InProgress":
            time.sleep(0.05)
    return out


def _group_exists(logs: object) -> bool:
    return bool(logs.describe_log_groups(logGroupNamePrefix="/aws/sagemaker/TrainingJobs")["logGroups"])  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=20)
    args = parser.parse_args()
    base = baseline(args.jobs)
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_server(Path(tmp))
        try:
            kiln = kiln_runs(url, args.jobs)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    b, k = statistics.median(base), statistics.median(kiln)
    print(f"machine: {os.cpu_count()} CPUs; {args.jobs} runs each (medians)")
    print(f"python train.py directly      : {b * 1000:8.1f} ms to first line")
    print(f"Kiln CreateTrainingJob -> line: {k * 1000:8.1f} ms to first line (p90 "
          f"{sorted(kiln)[int(len(kiln) * 0.9) - 1] * 1000:.1f} ms)")
    print(f"Kiln overhead                 : {(k - b) * 1000:8.1f} ms  (goal < 500 ms)")


if __name__ == "__main__":
    main()
