"""The end-to-end demo: a Kiln server on the embedded default, then the seed's own scripts, unmodified,
run as a user would run them (`eval "$(kiln env)"; python script.py`). Each capability that works
joins the tour here."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import boto3
import httpx
from rich.console import Console
from rich.table import Table

from kiln.config import Settings
from kiln.envvars import client_env
from kiln.launch import clean_env, free_port, spawn_server, wait_healthy

console = Console()
# SDK chatter that says nothing about the run.
_NOISE = ("INFO:botocore", "environment_global.", "sagemaker.config INFO", "  warn_v2_deprecation",
          "You are using the SageMaker Python SDK v2", "See https://github.com/aws/sagemaker-python-sdk")


def lay_out_project(work: Path) -> None:
    """Copy the demo project (the seed's scripts and src/) into `work` and generate its data."""
    import numpy as np

    src = resources.files("kiln.demo") / "project"
    with resources.as_file(src) as path:
        shutil.copytree(path, work, dirs_exist_ok=True)
    data = work / "data"
    data.mkdir(exist_ok=True)
    rng = np.random.default_rng(7)
    for name, n in (("train", 512), ("val", 128)):
        x = rng.normal(size=(n, 4))
        y = x @ np.array([1.5, -2.0, 0.5, 3.0]) + 0.3 + rng.normal(scale=0.05, size=n)
        np.savetxt(data / f"{name}.csv", np.column_stack([y, x]), delimiter=",", fmt="%.6f")


class Server:
    def __init__(self, data_dir: Path, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.log = data_dir.parent / "server.log"
        data_dir.mkdir(parents=True, exist_ok=True)
        self.proc = spawn_server(port, data_dir, clean_env(), self.log)
        wait_healthy(self.proc, self.url, self.log)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _run(title: str, script: str, work: Path, env: dict[str, str], during: Callable[[], None] | None = None) -> None:
    console.rule(f"[bold]{title}")
    console.print(f"[dim]$ python {script}[/dim]")
    proc = subprocess.Popen([sys.executable, script], cwd=work, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    helper = threading.Thread(target=during, daemon=True) if during else None
    if helper:
        helper.start()
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith(_NOISE):
            continue
        console.print(f"  {line.rstrip()}", markup=False, highlight=False)
    if proc.wait() != 0:
        raise RuntimeError(f"{script} failed with exit code {proc.returncode}")


def _interrupt_spot_job(url: str, env: dict[str, str]) -> Callable[[], None]:
    def run() -> None:
        sm = boto3.client("sagemaker", endpoint_url=url, region_name=env["AWS_DEFAULT_REGION"],
                          aws_access_key_id="kiln", aws_secret_access_key="kiln")
        deadline = time.time() + 120
        while time.time() < deadline:
            for job in sm.list_training_jobs(StatusEquals="InProgress")["TrainingJobSummaries"]:
                desc = sm.describe_training_job(TrainingJobName=job["TrainingJobName"])
                if desc.get("EnableManagedSpotTraining") and desc["SecondaryStatus"] == "Training" \
                        and time.time() - desc["TrainingStartTime"].timestamp() > 3:
                    console.print(f"[yellow]  >>> kiln spot interrupt {job['TrainingJobName']}[/yellow]")
                    httpx.post(f"{url}/_kiln/training-jobs/{job['TrainingJobName']}/interrupt")
                    return
            time.sleep(0.5)

    return run


def _summary(url: str) -> None:
    sm = boto3.client("sagemaker", endpoint_url=url, region_name="us-east-1", aws_access_key_id="kiln",
                      aws_secret_access_key="kiln")
    table = Table(title="Training jobs")
    table.add_column("name", no_wrap=True)
    for col in ("status", "training s", "billable s", "interruptions"):
        table.add_column(col)
    for job in sm.list_training_jobs(MaxResults=100, SortOrder="Ascending")["TrainingJobSummaries"]:
        d = sm.describe_training_job(TrainingJobName=job["TrainingJobName"])
        interrupted = sum(1 for t in d["SecondaryStatusTransitions"] if t["Status"] == "Interrupted")
        table.add_row(d["TrainingJobName"], d["TrainingJobStatus"], str(d.get("TrainingTimeInSeconds", "")),
                      str(d.get("BillableTimeInSeconds", "")), str(interrupted))
    console.print(table)


def run_demo(data_dir: Path | None = None, keep: bool = False) -> int:
    work = Path(tempfile.mkdtemp(prefix="kiln-demo-"))
    data_dir = data_dir or work / "kiln-data"
    console.rule("[bold]Kiln demo")
    console.print(f"work dir {work}\ndata dir {data_dir}")
    lay_out_project(work)
    server = Server(data_dir, free_port())
    console.print(f"Kiln server on {server.url} (embedded: SQLite, objects on disk, local processes)")
    env = {**os.environ, **client_env(server.url, Settings(data_dir=data_dir), work / "client")}
    try:
        _run("1. Training, then a real-time endpoint: the seed's PyTorch estimator, deploy, predict, autoscaling",
             "train_pytorch.py", work, env)
        _run("2. Managed spot training: interrupted mid-training, resumed from its checkpoint",
             "train_spot.py", work, env, during=_interrupt_spot_job(server.url, env))
        _run("3. Built-in XGBoost (algorithm mode: the image URI names the algorithm)",
             "train_xgboost.py", work, env)
        _run("4. Feature Store: the seed's feature group, ingest, online read, Athena, a point-in-time training set",
             "feature_store.py", work, env)
        _run("5. Serverless inference: the seed's ServerlessInferenceConfig deploy; no process while idle, "
             "cold start, then warm", "serverless.py", work, env)
        _run("6. Multi-model endpoint: the seed's MultiDataModel, add_model while serving, 32 models on one fleet",
             "multi_model.py", work, env)
        _run("7. Batch transform: built-in XGBoost, transformer(...).transform(split_type='Line'), .out files, "
             "and a DataProcessing join of labels and predictions", "batch_transform.py", work, env)
        _run("8. Asynchronous inference: AsyncInferenceConfig deploy, predict_async + get_result, ten queued "
             "boto3 requests answered two at a time, SNS notifications", "async_inference.py", work, env)
        _summary(server.url)
        console.rule("[bold green]Demo finished")
        return 0
    except RuntimeError as exc:
        console.print(f"[red]demo failed: {exc}[/red]")
        return 1
    finally:
        server.stop()
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
