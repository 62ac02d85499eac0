"""Shared by the tuning benchmarks: drive Kiln's own tuning code in-process (the same Space, sampler,
pruner and TuningStudy the server's reconciler uses, with the objective evaluated directly), or run
real tuning jobs on a Kiln server started in a subprocess.

Not a benchmark itself (no figures).
"""

from __future__ import annotations

import io
import tarfile
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kiln_server import KilnServer

from kiln.core.scope import Scope
from kiln.services.tuning import strategies, validate
from kiln.services.tuning.models import TuningJob, TuningStatus, Verdict
from kiln.services.tuning.space import Space
from kiln.services.tuning.study import TuningStudy

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
ROLE = "arn:aws:iam::123456789012:role/KilnExecutionRole"
BUCKET = "kiln-tuning-bench"


def request(name: str, strategy: str, ranges: dict[str, Any], *, max_jobs: int, parallel: int, seed: int,
            static: dict[str, str] | None = None, objective: str = "loss", **config: Any) -> dict[str, Any]:
    """A CreateHyperParameterTuningJob request for the benchmark script in `BUCKET`."""
    return {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": {
            "Strategy": strategy, "RandomSeed": seed, "ParameterRanges": ranges,
            "ResourceLimits": {"MaxNumberOfTrainingJobs": max_jobs, "MaxParallelTrainingJobs": parallel},
            "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": objective}, **config},
        "TrainingJobDefinition": {
            "StaticHyperParameters": {"sagemaker_program": '"train.py"',
                                      "sagemaker_submit_directory": f'"s3://{BUCKET}/src/sourcedir.tar.gz"',
                                      **(static or {})},
            "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File", "MetricDefinitions": [
                {"Name": objective, "Regex": f"{objective}=([-0-9.e]+)"}]},
            "RoleArn": ROLE, "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/out/"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
            "StoppingCondition": {"MaxRuntimeInSeconds": 600}},
    }


# -- in-process ------------------------------------------------------------------------------------

def study_for(req: dict[str, Any]) -> tuple[TuningStudy, Space, int]:
    """Kiln's TuningStudy for a request, as the reconciler builds it."""
    space = Space(validate.definitions(req))
    total = validate.check(req, space)
    config = req["HyperParameterTuningJobConfig"]
    job = TuningJob(scope=Scope("123456789012", "us-east-1"), name=req["HyperParameterTuningJobName"],
                    arn=f"arn:aws:sagemaker:us-east-1:123456789012:hyper-parameter-tuning-job/"
                        f"{req['HyperParameterTuningJobName']}",
                    spec=req, status=TuningStatus.IN_PROGRESS, created_at=0.0, modified_at=0.0,
                    seed=int(config["RandomSeed"]))
    resources = None
    if config["Strategy"] == "Hyperband":
        resources = strategies.hyperband_resources(config, space.definitions[0].static)
    pruner = strategies.make_pruner(config["Strategy"], config.get("TrainingJobEarlyStoppingType", "Off"), resources)
    return TuningStudy(job, space, max_jobs=total, pruner=pruner), space, total


def run_in_process(req: dict[str, Any], curve: Callable[[dict[str, str], int], float],
                   epochs: int) -> Iterator[tuple[int, float, int]]:
    """Run trials one at a time; `curve(tuned, epoch)` is the objective printed after `epoch`.
    Yields (trial number, final objective, epochs run) per trial, in order."""
    study, _, total = study_for(req)
    for number in range(1, total + 1):
        _, _, tuned = study.ask(number)
        values: list[float] = []
        pruned = False
        for epoch in range(1, epochs + 1):
            values.append(curve(tuned, epoch))
            if study.report(number, values, len(values) - 1):
                pruned = True
                break
        study.tell(number, Verdict.PRUNED if pruned else Verdict.COMPLETE, values[-1])
        yield number, values[-1], len(values)


# -- live server -------------------------------------------------------------------------------------

@contextmanager
def live_server(data_dir: Path, script: str, cpus: int = 8) -> Iterator[Any]:
    """A Kiln server subprocess with the benchmark script uploaded; yields a sagemaker client."""
    server = KilnServer(data_dir, env={"KILN_CPU_CAPACITY": str(cpus), "KILN_STOP_GRACE_SECONDS": "2",
                                       "PATH": "/usr/bin:/bin"}, timeout=30)
    client = server.client
    try:
        s3 = client("s3")
        s3.create_bucket(Bucket=BUCKET)
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            data = textwrap.dedent(script).encode()
            info = tarfile.TarInfo("train.py")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        s3.put_object(Bucket=BUCKET, Key="src/sourcedir.tar.gz", Body=buf.getvalue())
        yield client("sagemaker")
    finally:
        server.stop()


def run_live(sm: Any, req: dict[str, Any], timeout: float = 1800) -> list[dict[str, Any]]:
    """Create the tuning job, wait for it, return its trial summaries."""
    name = req["HyperParameterTuningJobName"]
    sm.create_hyper_parameter_tuning_job(**req)
    deadline = time.time() + timeout
    while sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)[
            "HyperParameterTuningJobStatus"] in ("InProgress", "Stopping"):
        if time.time() > deadline:
            raise TimeoutError(name)
        time.sleep(1)
    out: list[dict[str, Any]] = []
    for page in sm.get_paginator("list_training_jobs_for_hyper_parameter_tuning_job").paginate(
            HyperParameterTuningJobName=name):
        out += page["TrainingJobSummaries"]
    return out
