"""Batch transform with the real SageMaker SDK v2, as an unmodified user script in a subprocess:
an `SKLearnModel` (model.tar.gz + inference.py), `model.transformer(instance_count=1,
instance_type="ml.m5.xlarge", output_path=...)`, `.transform(s3_input, content_type="text/csv",
split_type="Line")`, `.wait()` (which tails the job's CloudWatch log), then the `.out` files."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytestmark = [pytest.mark.sdk, pytest.mark.slow]

INFERENCE_PY = """
import os
import joblib
import numpy as np

def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))

def input_fn(body, content_type):
    assert content_type == "text/csv", content_type
    return np.array([[float(v) for v in line.split(",")] for line in body.splitlines() if line.strip()])

def predict_fn(data, model):
    return model.predict_proba(data)[:, 1]

def output_fn(prediction, accept):
    return "\\n".join(f"{p:.6f}" for p in prediction), "text/csv"
"""

USER_SCRIPT = """
import boto3
import sagemaker
from sagemaker.sklearn import SKLearnModel

sess = sagemaker.Session()
role = sagemaker.get_execution_role()
bucket = sess.default_bucket()
model_data = sess.upload_data("model.tar.gz", bucket, "batch-demo/model")
s3_input = sess.upload_data("data", bucket, "batch-demo/input")

model = SKLearnModel(model_data=model_data, role=role, entry_point="inference.py", source_dir="src",
                     framework_version="1.2-1", py_version="py3")
transformer = model.transformer(instance_count=1, instance_type="ml.m5.xlarge",
                                output_path=f"s3://{bucket}/batch-demo/output")
transformer.transform(s3_input, content_type="text/csv", split_type="Line")
transformer.wait()

s3 = boto3.client("s3")
for obj in s3.list_objects_v2(Bucket=bucket, Prefix="batch-demo/output/")["Contents"]:
    body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read().decode()
    print("OUT", obj["Key"].rsplit("/", 1)[1], ",".join(body.split()))
desc = boto3.client("sagemaker").describe_transform_job(TransformJobName=transformer.latest_transform_job.name)
print("STATUS", desc["TransformJobStatus"], desc["TransformInput"]["SplitType"], desc["TransformInput"]["ContentType"])
"""


def _project(tmp: Path) -> tuple[Path, dict[str, np.ndarray], Any]:
    import joblib
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 4))
    y = (x @ np.array([1.0, -2.0, 0.5, 3.0]) > 0).astype(int)
    model = LogisticRegression().fit(x, y)
    buf = io.BytesIO()
    joblib.dump(model, buf)
    with tarfile.open(tmp / "model.tar.gz", "w:gz") as tar:
        info = tarfile.TarInfo("model.joblib")
        info.size = len(buf.getvalue())
        tar.addfile(info, io.BytesIO(buf.getvalue()))
    (tmp / "src").mkdir()
    (tmp / "src" / "inference.py").write_text(textwrap.dedent(INFERENCE_PY))
    (tmp / "data").mkdir()
    inputs = {"part-a.csv": np.round(rng.normal(size=(25, 4)), 4), "part-b.csv": np.round(rng.normal(size=(9, 4)), 4)}
    for name, rows in inputs.items():
        np.savetxt(tmp / "data" / name, rows, delimiter=",", fmt="%g")
    (tmp / "user_script.py").write_text(textwrap.dedent(USER_SCRIPT))
    return tmp, inputs, model


def test_sdk_transformer_transform_wait_and_outputs(kiln_server: Any, tmp_path: Path) -> None:
    proj, inputs, model = _project(tmp_path)
    out = subprocess.run([sys.executable, "user_script.py"], cwd=proj, env=kiln_server.env(), capture_output=True,
                         text=True, timeout=480)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-5000:]
    got = {line.split()[1]: [float(v) for v in line.split()[2].split(",")]
           for line in out.stdout.splitlines() if line.startswith("OUT ")}
    assert sorted(got) == ["part-a.csv.out", "part-b.csv.out"]
    for name, rows in inputs.items():
        np.testing.assert_allclose(got[name + ".out"], model.predict_proba(rows)[:, 1], atol=2e-6)
    assert "STATUS Completed Line text/csv" in out.stdout
    # transformer.wait() tails the job's log (CloudWatch Logs, /aws/sagemaker/TransformJobs)
    assert "[sagemaker logs]: MaxConcurrentTransforms=" in out.stdout


def test_demo_batch_transform_script(kiln_server: Any, tmp_path: Path) -> None:
    """What `kiln demo` runs: src/kiln/demo/project/batch_transform.py on the demo's data (built-in XGBoost
    trained, then two transform jobs: plain, and with InputFilter/JoinSource/OutputFilter)."""
    from sdk_project import run_user_script

    from kiln.demo.runner import lay_out_project

    lay_out_project(tmp_path)
    stdout = run_user_script(kiln_server, tmp_path, (tmp_path / "batch_transform.py").read_text())
    rows = len(np.loadtxt(tmp_path / "data" / "val.csv", delimiter=","))
    scored = next(text for text in stdout.splitlines() if text.startswith("scored "))
    assert scored.startswith(f"scored {rows} rows; RMSE against the labels: "), stdout[-2000:]
    labels = np.loadtxt(tmp_path / "data" / "val.csv", delimiter=",")[:, 0]
    assert float(scored.rsplit(" ", 1)[1]) < float(np.std(labels)), "a trained model beats the mean"
    assert "label,prediction: " in stdout and "transform job Completed in " in stdout
    first = next(text for text in stdout.splitlines() if text.startswith("first record: ")).split(": ", 1)[1]
    prediction, inference_id, when = first.split(",")
    assert abs(float(prediction)) < 1e6 and len(inference_id) == 36 and when.endswith("Z")
    captured = [text.split(" ", 2)[1:] for text in stdout.splitlines() if text.startswith("captured: ")]
    assert sorted(key.split("/")[2] for key, _ in captured) == ["input", "output"]
    assert all(json.loads(doc)[1] in ("val_features.csv", "val_features.csv.out") for _, doc in captured)
