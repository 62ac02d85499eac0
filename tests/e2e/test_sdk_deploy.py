"""The seed's real-time deployment, run unmodified with the real SageMaker SDK v2 as a subprocess:
a PyTorch script-mode training job, `estimator.deploy(initial_instance_count=2, ...)` with an
`inference.py` (the SDK repacks model.tar.gz with `code/`), `predictor.predict(...)`, the same call
through boto3's `invoke_endpoint`, the seed's Application Auto Scaling calls, then clean-up."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from sdk_project import line, run_user_script, write_project

pytestmark = [pytest.mark.sdk, pytest.mark.slow]

TRAIN_PY = """
import argparse, glob, os
import numpy as np
import torch

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=20)
args = parser.parse_args()
files = glob.glob(os.path.join(os.environ["SM_CHANNEL_TRAIN"], "*.csv"))
data = np.concatenate([np.loadtxt(f, delimiter=",", ndmin=2) for f in files])
x = torch.tensor(data[:, 1:], dtype=torch.float32)
y = torch.tensor(data[:, :1], dtype=torch.float32)
model = torch.nn.Sequential(torch.nn.Linear(4, 1), torch.nn.Sigmoid())
opt = torch.optim.Adam(model.parameters(), lr=0.05)
for epoch in range(args.epochs):
    opt.zero_grad()
    loss = torch.nn.functional.binary_cross_entropy(model(x), y)
    loss.backward(); opt.step()
    print(f"epoch={epoch} loss={loss.item():.4f}")
torch.save(model.state_dict(), os.path.join(os.environ["SM_MODEL_DIR"], "model.pth"))
"""

INFERENCE_PY = """
import json, os
import torch

def model_fn(model_dir):
    model = torch.nn.Sequential(torch.nn.Linear(4, 1), torch.nn.Sigmoid())
    model.load_state_dict(torch.load(os.path.join(model_dir, "model.pth")))
    return model.eval()

def input_fn(body, content_type):
    assert content_type == "application/json", content_type
    return torch.tensor(json.loads(body)["inputs"], dtype=torch.float32)

def predict_fn(data, model):
    with torch.no_grad():
        return model(data)

def output_fn(prediction, accept):
    return json.dumps({"predictions": [round(float(p), 4) for p in prediction.flatten()]}), "application/json"
"""

SEED = """
import json
import boto3
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
    hyperparameters={"epochs": 60},
    output_path=f"s3://{bucket}/models/",
)
estimator.fit({"train": f"s3://{bucket}/data/train/"}, logs=False)

# Deploy from a completed training job (the seed's call; inference.py rides along in source_dir)
predictor = estimator.deploy(
    initial_instance_count=2,
    instance_type="ml.m5.xlarge",
    endpoint_name="my-pytorch-endpoint",
    serializer=sagemaker.serializers.JSONSerializer(),
    deserializer=sagemaker.deserializers.JSONDeserializer(),
    entry_point="inference.py",
)
# Invoke the endpoint
response = predictor.predict({"inputs": [[1.2, 3.4, 5.6, 7.8]]})
print("PREDICT", json.dumps(response))
# --- Or invoke via boto3 directly ---
sm_rt = boto3.client("sagemaker-runtime")
response = sm_rt.invoke_endpoint(
    EndpointName="my-pytorch-endpoint",
    ContentType="application/json",
    Body=json.dumps({"inputs": [[1.2, 3.4, 5.6, 7.8]]}),
)
result = json.loads(response["Body"].read())
print("BOTO3", json.dumps(result), response["InvokedProductionVariant"])
desc = boto3.client("sagemaker").describe_endpoint(EndpointName="my-pytorch-endpoint")
print("VARIANT", desc["ProductionVariants"][0]["CurrentInstanceCount"], desc["EndpointStatus"])
model = boto3.client("sagemaker").describe_model(ModelName=predictor._get_model_names()[0])
print("MODEL", json.dumps(model["PrimaryContainer"]))
AUTOSCALING
predictor.delete_model()
predictor.delete_endpoint()
print("DELETED")
"""

AUTOSCALING = """
aas = boto3.client("application-autoscaling")
aas.register_scalable_target(
    ServiceNamespace="sagemaker",
    ResourceId="endpoint/my-pytorch-endpoint/variant/AllTraffic",
    ScalableDimension="sagemaker:variant:DesiredInstanceCount",
    MinCapacity=1,
    MaxCapacity=10,
)
aas.put_scaling_policy(
    PolicyName="sagemaker-invocations-scaling",
    ServiceNamespace="sagemaker",
    ResourceId="endpoint/my-pytorch-endpoint/variant/AllTraffic",
    ScalableDimension="sagemaker:variant:DesiredInstanceCount",
    PolicyType="TargetTrackingScaling",
    TargetTrackingScalingPolicyConfiguration={
        "TargetValue": 1000.0,
        "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
        "ScaleInCooldown": 300,
        "ScaleOutCooldown": 60,
    },
)
policies = aas.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]
print("POLICIES", [p["PolicyName"] for p in policies if p["ResourceId"].startswith("endpoint/my-pytorch-endpoint/")])
aas.deregister_scalable_target(ServiceNamespace="sagemaker",
                               ResourceId="endpoint/my-pytorch-endpoint/variant/AllTraffic",
                               ScalableDimension="sagemaker:variant:DesiredInstanceCount")
"""


def test_seed_deploy_predict_autoscaling(kiln_server: Any, tmp_path: Path) -> None:
    proj = write_project(tmp_path, {"train.py": TRAIN_PY, "inference.py": INFERENCE_PY, "requirements.txt": "numpy\n"})
    script = textwrap.dedent(SEED).replace("AUTOSCALING\n", textwrap.dedent(AUTOSCALING))
    stdout = run_user_script(kiln_server, proj, script, endpoints=["my-pytorch-endpoint"])
    predicted = json.loads(line(stdout, "PREDICT"))
    assert len(predicted["predictions"]) == 1 and 0.0 <= predicted["predictions"][0] <= 1.0
    boto_line = line(stdout, "BOTO3")
    assert json.loads(boto_line.rsplit(" ", 1)[0]) == predicted and boto_line.endswith(" AllTraffic")
    assert line(stdout, "VARIANT") == "2 InService"
    container = json.loads(line(stdout, "MODEL"))
    assert container["Image"].endswith("pytorch-inference:2.1-cpu-py310")
    assert container["Environment"]["SAGEMAKER_PROGRAM"] == "inference.py"
    assert container["ModelDataUrl"].endswith("/model.tar.gz")  # the SDK's repacked archive
    assert "sagemaker-invocations-scaling" in line(stdout, "POLICIES")
    assert "DELETED" in stdout
    sm = kiln_server.client("sagemaker")
    assert "my-pytorch-endpoint" not in [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]
                                         if e["EndpointStatus"] != "Deleting"]
