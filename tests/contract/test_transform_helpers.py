"""Helpers for batch-transform tests (no tests here): a linear model whose answers the tests can
compute, its inference script, inputs, and waiting.

The model is a scikit-learn LinearRegression with known weights (`W`, `B`). `INFERENCE_PY` reads CSV,
JSON / JSON Lines (`[..]` or `{"features": [..]}`) and RecordIO-framed CSV records; a row starting with
`boom` makes it fail (500), content type `application/x-reject` is refused (415); `SLEEP_S` in the job's
Environment slows every request; `BATCH_TAG` appends `,<rows in the request>` to each CSV answer line.
"""

from __future__ import annotations

import io
import struct
import time
from typing import Any

import numpy as np
from test_hosting_helpers import ROLE, archive

__all__ = ["ROLE", "archive"]

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
BUCKET = "kiln-transform-tests"
W = np.array([1.5, -2.0, 0.25, 3.0])
B = 0.5

INFERENCE_PY = """
import json, os, struct, time
import joblib
import numpy as np

class Reject(Exception):
    status = 415

def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))

def _recordio(body):
    rows, pos = [], 0
    while pos < len(body):
        magic, lrec = struct.unpack("<II", body[pos:pos + 8])
        assert magic == 0xCED7230A
        n = lrec & ((1 << 29) - 1)
        rows.append(body[pos + 8:pos + 8 + n].decode())
        pos += 8 + n + (-n % 4)
    return rows

def input_fn(body, content_type):
    if os.environ.get("SLEEP_S"):
        time.sleep(float(os.environ["SLEEP_S"]))
    if content_type == "application/x-reject":
        raise Reject("content type application/x-reject is refused")
    if content_type == "application/x-recordio":
        lines = _recordio(body)
    elif content_type == "text/csv":
        lines = [l for l in body.splitlines() if l.strip()]
    else:
        docs = [json.loads(l) for l in body.splitlines() if l.strip()]
        rows = [d["features"] if isinstance(d, dict) else d for d in docs]
        return np.array(rows, dtype=float)
    if any(l.startswith("boom") for l in lines):
        raise ValueError("boom row in the request")
    return np.array([[float(v) for v in l.split(",")] for l in lines])

def predict_fn(data, model):
    return model.predict(np.atleast_2d(data))

def output_fn(prediction, accept):
    if accept in ("application/json", "application/jsonlines"):
        return "\\n".join(json.dumps({"score": round(float(p), 6)}) for p in prediction), accept
    tag = f",{len(prediction)}" if os.environ.get("BATCH_TAG") else ""
    return "\\n".join(f"{p:.6f}{tag}" for p in prediction), "text/csv"
"""


def model_archive() -> bytes:
    import joblib
    from sklearn.linear_model import LinearRegression

    model = LinearRegression()
    model.coef_, model.intercept_ = W.copy(), B
    model.n_features_in_ = 4
    buf = io.BytesIO()
    joblib.dump(model, buf)
    return archive({"model.joblib": buf.getvalue(), "code/inference.py": INFERENCE_PY})


def setup_model(s3: Any, sm: Any, name: str) -> None:
    try:
        s3.create_bucket(Bucket=BUCKET)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    s3.put_object(Bucket=BUCKET, Key=f"models/{name}/model.tar.gz", Body=model_archive())
    sm.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={
        "Image": IMAGE, "ModelDataUrl": f"s3://{BUCKET}/models/{name}/model.tar.gz",
        "Environment": {"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"}})


def rows(n: int, seed: int) -> np.ndarray:
    return np.round(np.random.default_rng(seed).normal(size=(n, 4)), 4)


def csv_bytes(x: np.ndarray, ids: list[str] | None = None) -> bytes:
    lines = [",".join(f"{v:g}" for v in r) for r in x]
    if ids is not None:
        lines = [f"{i},{line}" for i, line in zip(ids, lines, strict=True)]
    return ("\n".join(lines) + "\n").encode()


def expected(x: np.ndarray) -> np.ndarray:
    return x @ W + B


def recordio(records: list[bytes]) -> bytes:
    out = b""
    for r in records:
        out += struct.pack("<II", 0xCED7230A, len(r)) + r + b"\0" * (-len(r) % 4)
    return out


def job_request(name: str, model: str, input_uri: str, output_uri: str, **extra: Any) -> dict[str, Any]:
    tin = {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": input_uri}},
           "ContentType": "text/csv", "SplitType": "Line"}
    tin.update(extra.pop("TransformInput", {}))
    tout = {"S3OutputPath": output_uri, "AssembleWith": "Line", "Accept": "text/csv"}
    tout.update(extra.pop("TransformOutput", {}))
    return {"TransformJobName": name, "ModelName": model, "TransformInput": tin, "TransformOutput": tout,
            "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1}, **extra}


def wait_job(sm: Any, name: str, timeout: float = 240,
             until: tuple[str, ...] = ("Completed", "Failed", "Stopped")) -> dict[str, Any]:
    deadline = time.time() + timeout
    while True:
        desc = sm.describe_transform_job(TransformJobName=name)
        if desc["TransformJobStatus"] in until:
            return desc
        if time.time() > deadline:
            raise AssertionError(f"transform job {name} stuck in {desc['TransformJobStatus']}: {desc}")
        time.sleep(0.25)


def job_log(logs: Any, name: str) -> str:
    streams = logs.describe_log_streams(logGroupName="/aws/sagemaker/TransformJobs",
                                        logStreamNamePrefix=name + "/")["logStreams"]
    text = []
    for s in streams:
        events = logs.get_log_events(logGroupName="/aws/sagemaker/TransformJobs", logStreamName=s["logStreamName"],
                                     startFromHead=True)["events"]
        text += [e["message"] for e in events]
    return "\n".join(text)


def read(s3: Any, key: str) -> bytes:
    return bytes(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
