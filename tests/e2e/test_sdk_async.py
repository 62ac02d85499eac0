"""Asynchronous inference as a new user writes it, run unmodified with the real SageMaker SDK v2 in a
subprocess: `SKLearnModel(...).deploy(async_inference_config=AsyncInferenceConfig(...))`,
`predict_async(data=...)` + `get_result(WaiterConfig(...))`, `predict_async(input_path=...)`, the
AsyncPredictor's blocking `predict(...)`, boto3's `invoke_endpoint_async`, a model error surfacing as
`AsyncInferenceModelError` from the failure location, then clean-up."""

from __future__ import annotations

import io
import json
import tarfile
import textwrap
from pathlib import Path
from typing import Any

import pytest
from sdk_project import line, run_user_script

pytestmark = [pytest.mark.sdk, pytest.mark.slow]

INFERENCE_PY = """
import json, os
import joblib
import numpy as np

def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))

def input_fn(body, content_type):
    doc = json.loads(body)
    if "fail" in doc:
        raise ValueError("the input asked to fail: " + doc["fail"])
    return np.array(doc["inputs"], dtype=float)

def predict_fn(data, model):
    return model.predict_proba(np.atleast_2d(data))[:, 1]

def output_fn(prediction, accept):
    return json.dumps({"predictions": [round(float(p), 4) for p in prediction]}), "application/json"
"""

USER_SCRIPT = """
import json
import time
import boto3
import sagemaker
from sagemaker.async_inference import AsyncInferenceConfig, WaiterConfig
from sagemaker.deserializers import JSONDeserializer, StringDeserializer
from sagemaker.exceptions import AsyncInferenceModelError
from sagemaker.serializers import JSONSerializer
from sagemaker.sklearn import SKLearnModel

sess = sagemaker.Session()
role = sagemaker.get_execution_role()
bucket = sess.default_bucket()
model_data = sess.upload_data("model.tar.gz", bucket, "async-demo/model")

model = SKLearnModel(model_data=model_data, role=role, entry_point="inference.py", source_dir="code",
                     framework_version="1.2-1", py_version="py3")
predictor = model.deploy(
    initial_instance_count=1,
    instance_type="ml.m5.xlarge",
    endpoint_name="my-async-endpoint",
    async_inference_config=AsyncInferenceConfig(output_path=f"s3://{bucket}/async-demo/output",
                                                max_concurrent_invocations_per_instance=2),
    serializer=JSONSerializer(),
    deserializer=JSONDeserializer(),
)
print("PREDICTOR", type(predictor).__name__)
row = {"inputs": [[0.5, -1.0, 0.25, 1.5]]}
waiter = WaiterConfig(max_attempts=20, delay=1)  # (the SDK keeps polling the other path that long)

response = predictor.predict_async(data=row)
print("OUTPUT_PATH", response.output_path)
print("RESULT", json.dumps(response.get_result(waiter)))

s3 = boto3.client("s3")
s3.put_object(Bucket=bucket, Key="async-demo/inputs/row.json", Body=json.dumps(row), ContentType="application/json")
by_path = predictor.predict_async(input_path=f"s3://{bucket}/async-demo/inputs/row.json")
print("BY_PATH", json.dumps(by_path.get_result(waiter)))

print("BLOCKING", json.dumps(predictor.predict(data=row, waiter_config=waiter)))

rt = boto3.client("sagemaker-runtime")
answer = rt.invoke_endpoint_async(EndpointName="my-async-endpoint", ContentType="application/json",
                                  InputLocation=f"s3://{bucket}/async-demo/inputs/row.json")
out_bucket, out_key = answer["OutputLocation"][len("s3://"):].split("/", 1)
s3.get_waiter("object_exists").wait(Bucket=out_bucket, Key=out_key, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
print("BOTO3", s3.get_object(Bucket=out_bucket, Key=out_key)["Body"].read().decode())

predictor.deserializer = StringDeserializer()  # the model's error text is read back through it
try:
    # (a short waiter: the SDK's output-path waiter thread keeps polling after the failure is found)
    predictor.predict_async(data={"fail": "on purpose"}).get_result(WaiterConfig(max_attempts=15, delay=1))
    print("NO ERROR")
except AsyncInferenceModelError as exc:
    print("MODEL_ERROR", "on purpose" in str(exc))

desc = boto3.client("sagemaker").describe_endpoint(EndpointName="my-async-endpoint")
print("ASYNC_CONFIG", json.dumps(desc["AsyncInferenceConfig"]))
predictor.delete_model()
predictor.delete_endpoint()
print("DELETED")
"""


def _model_archive() -> bytes:
    import joblib
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 4))
    y = (x @ np.array([1.0, -2.0, 0.5, 3.0]) > 0).astype(int)
    model = io.BytesIO()
    joblib.dump(LogisticRegression().fit(x, y), model)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("model.joblib")
        info.size = len(model.getvalue())
        tar.addfile(info, io.BytesIO(model.getvalue()))
    return buf.getvalue()


def test_sdk_async_inference(kiln_server: Any, tmp_path: Path) -> None:
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "inference.py").write_text(textwrap.dedent(INFERENCE_PY))
    (tmp_path / "model.tar.gz").write_bytes(_model_archive())
    stdout = run_user_script(kiln_server, tmp_path, USER_SCRIPT, endpoints=["my-async-endpoint"])
    assert line(stdout, "PREDICTOR") == "AsyncPredictor"
    assert line(stdout, "OUTPUT_PATH").endswith(".out")
    result = json.loads(line(stdout, "RESULT"))
    assert len(result["predictions"]) == 1 and 0.0 <= result["predictions"][0] <= 1.0
    assert json.loads(line(stdout, "BY_PATH")) == result
    assert json.loads(line(stdout, "BLOCKING")) == result
    assert json.loads(line(stdout, "BOTO3")) == result
    assert line(stdout, "MODEL_ERROR") == "True"
    config = json.loads(line(stdout, "ASYNC_CONFIG"))
    assert config["ClientConfig"] == {"MaxConcurrentInvocationsPerInstance": 2}
    assert config["OutputConfig"]["S3OutputPath"].endswith("/async-demo/output")
    assert config["OutputConfig"]["S3FailurePath"]  # the SDK fills in a default failure path
    assert "DELETED" in stdout


def test_demo_async_inference_script(kiln_server: Any, tmp_path: Path) -> None:
    """What `kiln demo` runs: src/kiln/demo/project/async_inference.py on the demo's project (a PyTorch
    estimator, AsyncInferenceConfig with SNS notifications to the script's own http subscriber)."""
    from kiln.demo.runner import lay_out_project

    lay_out_project(tmp_path)
    stdout = run_user_script(kiln_server, tmp_path, (tmp_path / "async_inference.py").read_text(),
                             endpoints=["my-async-endpoint"])
    assert "result: {'predictions': [" in stdout
    assert "10 outputs written; the last: application/json {\"predictions\": [" in stdout
    assert "11 notifications, e.g. " in stdout  # one per answered request, the first included
    sm = kiln_server.client("sagemaker")
    assert "my-async-endpoint" not in [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]
                                       if e["EndpointStatus"] != "Deleting"]
