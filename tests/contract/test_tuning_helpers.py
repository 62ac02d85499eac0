"""Helpers for tuning tests (no tests here): a live server with room for parallel trials, a tiny
trial script whose objective is a known function of its hyperparameters, request bodies, waiting."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from conftest import ACCOUNT, REGION, LiveServer, free_port
from kiln.app import build_app
from kiln.config import Settings
from training_helpers import IMAGE, ROLE, sourcedir

# loss = (x - 0.3)^2 + (log10(lr) + 2)^2 / 4 + a categorical penalty + 1/epoch; one line per epoch.
TRIAL_PY = """
import json, math, os, sys, time
hps = json.loads(os.environ["SM_HPS"])
x = float(hps.get("x", 0.0)); lr = float(hps.get("lr", 0.01)); n = int(hps.get("n", 3))
penalty = {"adam": 0.0, "sgd": 0.2, "rmsprop": 0.1}.get(str(hps.get("opt", "adam")), 0.5)
if hps.get("fail") == "yes" or str(hps.get("opt")) == "boom":
    print("failing on purpose"); sys.exit(2)
epochs = int(hps.get("epochs", 3))
for epoch in range(1, epochs + 1):
    loss = (x - 0.3) ** 2 + (math.log10(lr) + 2) ** 2 / 4 + penalty + abs(n - 4) / 10 + 1.0 / epoch
    print(f"epoch={epoch} loss={loss:.6f}", flush=True)
    time.sleep(float(hps.get("sleep", 0)))
"""
BUCKET = "kiln-tuning-contract"
SOURCE = f"s3://{BUCKET}/tuning/source/sourcedir.tar.gz"


class TuningServer(LiveServer):
    """LiveServer with 8 vCPU slots (parallel trials on a small machine) and a short stop grace."""

    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self.data_dir = data_dir
        self.settings = Settings(data_dir=data_dir, port=self.port, account_id=ACCOUNT, region=REGION,
                                 cpu_capacity=8, stop_grace_seconds=2)
        self.app = build_app(self.settings)
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port,
                                                    log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)


@pytest.fixture(scope="module")
def tuning_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TuningServer]:
    server = TuningServer(tmp_path_factory.mktemp("kiln-tuning"))
    server.start()
    upload_source(server.client("s3"))
    yield server
    server.stop()


def upload_source(s3: Any, script: str = TRIAL_PY) -> None:
    if BUCKET not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="tuning/source/sourcedir.tar.gz", Body=sourcedir({"train.py": script}))


def ranges(*, x: bool = True, lr: bool = False, n: bool = False, opt: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if x:
        out["ContinuousParameterRanges"] = [{"Name": "x", "MinValue": "0", "MaxValue": "1", "ScalingType": "Linear"}]
    if lr:
        out.setdefault("ContinuousParameterRanges", []).append(
            {"Name": "lr", "MinValue": "0.0001", "MaxValue": "0.1", "ScalingType": "Logarithmic"})
    if n:
        out["IntegerParameterRanges"] = [{"Name": "n", "MinValue": "2", "MaxValue": "6", "ScalingType": "Auto"}]
    if opt:
        out["CategoricalParameterRanges"] = [{"Name": "opt", "Values": ['"adam"', '"sgd"', '"rmsprop"']}]
    return out


def definition(static: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "StaticHyperParameters": {"sagemaker_program": '"train.py"', "sagemaker_submit_directory": f'"{SOURCE}"',
                                  "epochs": "3", **(static or {})},
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File",
                                   "MetricDefinitions": [{"Name": "loss", "Regex": "loss=([0-9.]+)"}]},
        "RoleArn": ROLE,
        "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/out/"},
        "HyperParameterTuningResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                                               "VolumeSizeInGB": 5},
        "StoppingCondition": {"MaxRuntimeInSeconds": 120},
    }
    body.update(extra)
    return body


def tuning_request(name: str, *, strategy: str = "Random", max_jobs: int | None = 4, parallel: int = 2,
                   param_ranges: dict[str, Any] | None = None, static: dict[str, str] | None = None,
                   objective: str = "Minimize", **config: Any) -> dict[str, Any]:
    limits: dict[str, Any] = {"MaxParallelTrainingJobs": parallel}
    if max_jobs is not None:
        limits["MaxNumberOfTrainingJobs"] = max_jobs
    cfg: dict[str, Any] = {
        "Strategy": strategy, "ResourceLimits": limits,
        "HyperParameterTuningJobObjective": {"Type": objective, "MetricName": "loss"},
        "ParameterRanges": param_ranges if param_ranges is not None else ranges(),
        **config,
    }
    return {"HyperParameterTuningJobName": name, "HyperParameterTuningJobConfig": cfg,
            "TrainingJobDefinition": definition(static)}


def wait_tuning(sm: Any, name: str, timeout: float = 240) -> dict[str, Any]:
    deadline = time.time() + timeout
    while True:
        desc = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
        if desc["HyperParameterTuningJobStatus"] not in ("InProgress", "Stopping"):
            return dict(desc)
        if time.time() > deadline:
            raise AssertionError(f"{name} still {desc['HyperParameterTuningJobStatus']}: "
                                 f"{desc['TrainingJobStatusCounters']}")
        time.sleep(0.5)


def all_trials(sm: Any, name: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for pg in sm.get_paginator("list_training_jobs_for_hyper_parameter_tuning_job").paginate(
            HyperParameterTuningJobName=name, PaginationConfig={"PageSize": 3}):
        out += pg["TrainingJobSummaries"]
    return out


def max_overlap(trials: list[dict[str, Any]]) -> int:
    """Most trials running at one instant, from TrainingStartTime/TrainingEndTime (CreationTime when a
    trial never started)."""
    events = []
    for t in trials:
        start = t.get("TrainingStartTime") or t["CreationTime"]
        end = t.get("TrainingEndTime") or start
        events += [(start.timestamp(), 1), (end.timestamp(), -1)]
    running = peak = 0
    for _, delta in sorted(events, key=lambda e: (e[0], e[1])):
        running += delta
        peak = max(peak, running)
    return peak
