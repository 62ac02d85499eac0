"""Helpers for hosting tests (no tests here): model artifacts, deployment, waiting.

The model is a scikit-learn LogisticRegression on 4 features; `INFERENCE_PY` is its inference script
with hooks the tests drive through the request: `{"sleep": s}` sleeps, `{"status": 4xx}` fails with
that status, custom attributes are echoed, and each answer names the process and the model's tag.
"""

from __future__ import annotations

import io
import os
import tarfile
import textwrap
import time
from typing import Any

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
ROLE = "arn:aws:iam::123456789012:role/KilnExecutionRole"
BUCKET = "kiln-hosting-tests"

INFERENCE_PY = """
import json, os, time
import joblib
import numpy as np

class Reject(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status

def model_fn(model_dir):
    if os.path.exists(os.path.join(model_dir, "broken")):
        raise RuntimeError("this model is broken on purpose")
    return joblib.load(os.path.join(model_dir, "model.joblib"))

def input_fn(body, content_type):
    if content_type == "text/csv":
        return np.array([[float(v) for v in line.split(",")] for line in body.splitlines() if line.strip()])
    doc = json.loads(body)
    if isinstance(doc, dict):
        if "sleep" in doc:
            time.sleep(doc["sleep"])
        if "status" in doc:
            raise Reject(doc["status"], doc.get("message", "rejected"))
        doc = doc.get("inputs", doc.get("instances", [[0, 0, 0, 0]]))
    return np.array(doc, dtype=float)

def predict_fn(data, model):
    return model.predict_proba(np.atleast_2d(data))[:, 1]

def output_fn(prediction, accept, context):
    if accept == "application/jsonlines":  # streamed: one line per prediction, as a generator
        return (json.dumps({"index": i, "score": float(p)}) + "\\n" for i, p in enumerate(prediction))
    attributes = context.custom_attributes
    if attributes:
        context.set_response_header(0, "X-Amzn-SageMaker-Custom-Attributes", "echo:" + attributes)
    return json.dumps({"predictions": prediction.tolist(), "pid": os.getpid(),
                       "tag": os.environ.get("MODEL_TAG", "")}), "application/json"
"""


def model_bytes() -> bytes:
    import joblib
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 4))
    y = (x @ np.array([1.0, -2.0, 0.5, 3.0]) > 0).astype(int)
    buf = io.BytesIO()
    joblib.dump(LogisticRegression().fit(x, y), buf)
    return buf.getvalue()


def archive(files: dict[str, bytes | str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, content in files.items():
            data = textwrap.dedent(content).encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def upload_model(s3: Any, key: str, *, code: bool = True, broken: bool = False) -> str:
    """Upload a model.tar.gz (the model, plus code/inference.py when `code`); returns its s3:// URL."""
    files: dict[str, bytes | str] = {"model.joblib": model_bytes()}
    if code:
        files["code/inference.py"] = INFERENCE_PY
    if broken:
        files["broken"] = b"1"
    try:
        s3.create_bucket(Bucket=BUCKET)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    s3.put_object(Bucket=BUCKET, Key=key, Body=archive(files))
    return f"s3://{BUCKET}/{key}"


def create_model(sm: Any, name: str, url: str, *, code: bool = True, tag: str = "") -> None:
    env = {"MODEL_TAG": tag}
    if code:
        env.update({"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"})
    sm.create_model(ModelName=name, ExecutionRoleArn=ROLE,
                    PrimaryContainer={"Image": IMAGE, "ModelDataUrl": url, "Environment": env})


def variant(name: str, model: str, count: int = 1, weight: float = 1.0, **extra: Any) -> dict[str, Any]:
    return {"VariantName": name, "ModelName": model, "InitialInstanceCount": count, "InstanceType": "ml.m5.large",
            "InitialVariantWeight": weight, **extra}


def wait_endpoint(sm: Any, name: str, timeout: float = 300, until: tuple[str, ...] = ("InService", "Failed"),
                  ) -> dict[str, Any]:
    deadline = time.time() + timeout
    while True:
        desc = sm.describe_endpoint(EndpointName=name)
        if desc["EndpointStatus"] in until:
            return desc
        if time.time() > deadline:
            raise AssertionError(f"endpoint {name} stuck in {desc['EndpointStatus']}: {desc}")
        time.sleep(0.2)


def wait_gone(sm: Any, name: str, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            sm.describe_endpoint(EndpointName=name)
        except sm.exceptions.ClientError as exc:
            if "Could not find endpoint" in str(exc):
                return
            raise
        time.sleep(0.2)
    raise AssertionError(f"endpoint {name} was not deleted")


def replica_pids(server: Any, name: str) -> list[int]:
    """Process ids of the endpoint's healthy replicas (Kiln-internal view)."""
    hosting = server.platform.hosting
    rt = hosting.reconciler.by_key.get(("123456789012", "us-east-1", name))
    if rt is None:
        return []
    return [r.handle.proc.pid for r in rt.replicas() if r.state == "Healthy" and r.handle and r.handle.proc]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
