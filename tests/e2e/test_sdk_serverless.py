"""The seed's serverless example, run unmodified with the real SageMaker SDK v2 as a subprocess: a
PyTorch script-mode training job, then `estimator.deploy(serverless_inference_config=
ServerlessInferenceConfig(memory_size_in_mb=2048, max_concurrency=10), endpoint_name=...)`,
predictions through the SDK's predictor (NumPy in and out, its defaults) and through boto3, and
clean-up. The endpoint is InService holding no model server until the first prediction starts one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sdk_project import line, run_user_script, write_project

pytestmark = [pytest.mark.sdk, pytest.mark.slow]

TRAIN_PY = """
import glob, os
import numpy as np
import torch


def train():
    files = glob.glob(os.path.join(os.environ["SM_CHANNEL_TRAIN"], "*.csv"))
    data = np.concatenate([np.loadtxt(f, delimiter=",", ndmin=2) for f in files])
    x = torch.tensor(data[:, 1:], dtype=torch.float32)
    y = torch.tensor(data[:, :1], dtype=torch.float32)
    model = torch.nn.Sequential(torch.nn.Linear(4, 1), torch.nn.Sigmoid())
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for epoch in range(int(os.environ.get("SM_HP_EPOCHS", "40"))):
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy(model(x), y)
        loss.backward(); opt.step()
    print(f"loss={loss.item():.4f}")
    # TorchScript: the PyTorch serving container's default model_fn loads model.pt
    torch.jit.script(model.eval()).save(os.path.join(os.environ["SM_MODEL_DIR"], "model.pt"))


if __name__ == "__main__":  # the serving container imports this module too (it is the entry point)
    train()
"""

SEED = """
import json
import boto3
import numpy as np
import sagemaker
from sagemaker.pytorch import PyTorch

sess = sagemaker.Session()
role = sagemaker.get_execution_role()
bucket = sess.default_bucket()
sess.upload_data("data/train.csv", bucket, "data/train")
estimator = PyTorch(
    entry_point="train.py",
    source_dir="./src",
    role=role,
    instance_type="ml.m5.large",
    instance_count=1,
    framework_version="2.1",
    py_version="py310",
    hyperparameters={"epochs": 40},
)
estimator.fit({"train": f"s3://{bucket}/data/train/"}, logs=False)

from sagemaker.serverless import ServerlessInferenceConfig
serverless_config = ServerlessInferenceConfig(
    memory_size_in_mb=2048, # 1024, 2048, 3072, 4096, 5120, or 6144
    max_concurrency=10, # Max concurrent invocations
)
predictor = estimator.deploy(
    serverless_inference_config=serverless_config,
    endpoint_name="my-serverless-endpoint",
)
desc = boto3.client("sagemaker").describe_endpoint(EndpointName="my-serverless-endpoint")
print("DESCRIBE", desc["EndpointStatus"], json.dumps(desc["ProductionVariants"][0]["CurrentServerlessConfig"]))
print("CONFIG", json.dumps(boto3.client("sagemaker").describe_endpoint_config(
    EndpointConfigName="my-serverless-endpoint")["ProductionVariants"][0]["ServerlessConfig"]))

prediction = predictor.predict(np.array([[1.2, 3.4, 5.6, 7.8], [-1.0, 2.0, -0.5, -3.0]], dtype=np.float32))
print("PREDICT", json.dumps(np.asarray(prediction).round(4).tolist()))
response = boto3.client("sagemaker-runtime").invoke_endpoint(
    EndpointName="my-serverless-endpoint", ContentType="application/json", Accept="application/json",
    Body=json.dumps([[1.2, 3.4, 5.6, 7.8]]))
print("BOTO3", response["Body"].read().decode(), response["InvokedProductionVariant"])
predictor.delete_model()
predictor.delete_endpoint()
print("DELETED")
"""


def test_seed_serverless_deploy_predict(kiln_server: Any, tmp_path: Path) -> None:
    proj = write_project(tmp_path, {"train.py": TRAIN_PY})
    stdout = run_user_script(kiln_server, proj, SEED, endpoints=["my-serverless-endpoint"])
    status, config = line(stdout, "DESCRIBE").split(" ", 1)
    assert status == "InService"
    assert json.loads(config) == {"MemorySizeInMB": 2048, "MaxConcurrency": 10}
    assert json.loads(line(stdout, "CONFIG")) == {"MemorySizeInMB": 2048, "MaxConcurrency": 10}
    predicted = json.loads(line(stdout, "PREDICT"))
    assert len(predicted) == 2 and predicted[0][0] > 0.5 > predicted[1][0]  # a trained model, both ways
    body, variant = line(stdout, "BOTO3").rsplit(" ", 1)
    assert variant == "AllTraffic"
    assert json.loads(body)[0][0] == pytest.approx(predicted[0][0], abs=1e-3)
    assert "DELETED" in stdout
    sm = kiln_server.client("sagemaker")
    assert "my-serverless-endpoint" not in [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]
                                            if e["EndpointStatus"] != "Deleting"]


def test_demo_serverless_script(kiln_server: Any, tmp_path: Path) -> None:
    """What `kiln demo` runs: src/kiln/demo/project/serverless.py on the demo's project (its src/train.py
    serves JSON through its own input_fn/output_fn): cold start, then warm, the same answer each time."""
    from kiln.demo.runner import lay_out_project

    lay_out_project(tmp_path)
    stdout = run_user_script(kiln_server, tmp_path, (tmp_path / "serverless.py").read_text(),
                             endpoints=["my-serverless-endpoint"])
    assert "InService serverless: {'MemorySizeInMB': 2048, 'MaxConcurrency': 10}" in stdout
    answers = [text.split(" ms  ", 1)[1] for text in stdout.splitlines() if " ms  {" in text]
    assert len(answers) == 3 and len(set(answers)) == 1, stdout[-2000:]
    assert len(json.loads(answers[0])["predictions"]) == 1
    sm = kiln_server.client("sagemaker")
    assert "my-serverless-endpoint" not in [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]
                                            if e["EndpointStatus"] != "Deleting"]
