"""The seed's multi-model endpoint, run unmodified with the real SageMaker SDK v2 as a subprocess: a
scikit-learn script-mode training job whose script also holds the inference functions (the SDK's
sklearn pattern), `MultiDataModel(name=..., model_data_prefix=..., model=estimator.create_model(), ...)`,
`deploy` on two instances, `add_model` from S3 (the seed's call) and from a local file while the
endpoint runs, `list_models`, `predictor.predict(..., target_model=...)` and boto3's
`invoke_endpoint(..., TargetModel="customer-A.tar.gz")`, then clean-up."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sdk_project import line, run_user_script, write_project

pytestmark = [pytest.mark.sdk, pytest.mark.slow]

TRAIN_PY = """
import argparse, glob, json, os
import joblib
import numpy as np
from sklearn.linear_model import LogisticRegression


def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))


def input_fn(body, content_type):
    assert content_type == "application/json", content_type
    return np.array(json.loads(body)["inputs"], dtype=float)


def predict_fn(data, model):
    return model.predict_proba(data)[:, 1]


def output_fn(prediction, accept):
    return json.dumps({"predictions": [round(float(p), 4) for p in prediction]}), "application/json"


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--flip", type=int, default=0)
    args = parser.parse_args()
    files = glob.glob(os.path.join(os.environ["SM_CHANNEL_TRAIN"], "*.csv"))
    data = np.concatenate([np.loadtxt(f, delimiter=",", ndmin=2) for f in files])
    y = data[:, 0] if not args.flip else 1 - data[:, 0]
    model = LogisticRegression().fit(data[:, 1:], y)
    joblib.dump(model, os.path.join(os.environ["SM_MODEL_DIR"], "model.joblib"))
    print("trained", model.coef_.tolist())
"""

SEED = """
import json
import boto3
import sagemaker
from sagemaker.sklearn import SKLearn
from sagemaker.multidatamodel import MultiDataModel

sess = sagemaker.Session()
role = sagemaker.get_execution_role()
bucket = sess.default_bucket()
sess.upload_data("data/train.csv", bucket, "data/train")
estimator = SKLearn(entry_point="train.py", source_dir="./src", role=role, instance_type="ml.m5.large",
                    instance_count=1, framework_version="1.2-1", py_version="py3",
                    output_path=f"s3://{bucket}/training/")
estimator.fit({"train": f"s3://{bucket}/data/train/"}, logs=False)
s3 = boto3.client("s3")
trained = estimator.model_data
src_bucket, src_key = trained[len("s3://"):].split("/", 1)
s3.copy({"Bucket": src_bucket, "Key": src_key}, bucket, "models/customer-A/model.tar.gz")
flipped = SKLearn(entry_point="train.py", source_dir="./src", role=role, instance_type="ml.m5.large",
                  instance_count=1, framework_version="1.2-1", py_version="py3",
                  hyperparameters={"flip": 1}, output_path=f"s3://{bucket}/training/")
flipped.fit({"train": f"s3://{bucket}/data/train/"}, logs=False)
s3.download_file(*flipped.model_data[len("s3://"):].split("/", 1), "customer-B.tar.gz")

# --- the seed, verbatim from here ---
from sagemaker.multidatamodel import MultiDataModel
# All model artifacts live in the same S3 prefix
model_data_prefix = f"s3://{bucket}/multi-model-artifacts/"
mme = MultiDataModel(
name="customer-churn-mme",
model_data_prefix=model_data_prefix,
model=estimator.create_model(), # Base container
sagemaker_session=sess,
)
predictor = mme.deploy(
initial_instance_count=2,
instance_type="ml.m5.2xlarge",
endpoint_name="customer-churn-mme-endpoint",
)
# Copy a model into the MME (can be done without restarting the endpoint)
mme.add_model(model_data_source=f"s3://{bucket}/models/customer-A/model.tar.gz",
model_data_path="customer-A.tar.gz")
# Invoke a specific model by name
sm_rt = boto3.client("sagemaker-runtime")
response = sm_rt.invoke_endpoint(
EndpointName="customer-churn-mme-endpoint",
ContentType="application/json",
TargetModel="customer-A.tar.gz", # SageMaker routes to this specific model
Body=json.dumps({"inputs": [[1.2, 3.4, 5.6]]}),
)
print(json.loads(response["Body"].read()))
# --- end of the seed ---

print("BOTO3_A", json.dumps(json.loads(sm_rt.invoke_endpoint(
    EndpointName="customer-churn-mme-endpoint", ContentType="application/json", TargetModel="customer-A.tar.gz",
    Body=json.dumps({"inputs": [[1.2, 3.4, 5.6]]}))["Body"].read())))
mme.add_model(model_data_source="customer-B.tar.gz", model_data_path="customer-B.tar.gz")  # a local file
print("MODELS", json.dumps(sorted(mme.list_models())))
predictor.serializer = sagemaker.serializers.JSONSerializer()
predictor.deserializer = sagemaker.deserializers.JSONDeserializer()
print("PREDICT_A", json.dumps(predictor.predict({"inputs": [[1.2, 3.4, 5.6]]}, target_model="customer-A.tar.gz")))
print("PREDICT_B", json.dumps(predictor.predict({"inputs": [[1.2, 3.4, 5.6]]}, target_model="customer-B.tar.gz")))
try:
    predictor.predict({"inputs": [[1.2, 3.4, 5.6]]}, target_model="customer-Z.tar.gz")
except Exception as exc:  # the modelled ValidationError
    print("UNKNOWN", type(exc).__name__, exc.response["Error"]["Code"])
desc = boto3.client("sagemaker").describe_model(ModelName="customer-churn-mme")
print("CONTAINER", json.dumps({k: desc["PrimaryContainer"].get(k) for k in ("Mode", "ModelDataUrl")}))
print("INSTANCES", boto3.client("sagemaker").describe_endpoint(
    EndpointName="customer-churn-mme-endpoint")["ProductionVariants"][0]["CurrentInstanceCount"])
predictor.delete_endpoint()
mme.delete_model()
print("DELETED")
"""


def test_seed_multi_data_model(kiln_server: Any, tmp_path: Path) -> None:
    proj = write_project(tmp_path, {"train.py": TRAIN_PY}, weights=(1.0, -2.0, 0.5))
    stdout = run_user_script(kiln_server, proj, SEED, timeout=600, endpoints=["customer-churn-mme-endpoint"])
    seed_print = next("{" + text.split("{", 1)[1] for text in stdout.splitlines() if "{'predictions'" in text)
    a = json.loads(line(stdout, "BOTO3_A"))
    assert seed_print == str(a) and 0.0 <= a["predictions"][0] <= 1.0
    assert json.loads(line(stdout, "PREDICT_A")) == a
    b = json.loads(line(stdout, "PREDICT_B"))  # trained on flipped labels: the other model answered
    assert b["predictions"][0] == pytest.approx(1 - a["predictions"][0], abs=0.05)
    assert json.loads(line(stdout, "MODELS")) == ["customer-A.tar.gz", "customer-B.tar.gz"]
    assert line(stdout, "UNKNOWN") == "ValidationError ValidationError"  # botocore's modelled error class
    container = json.loads(line(stdout, "CONTAINER"))
    assert container["Mode"] == "MultiModel" and container["ModelDataUrl"].endswith("/multi-model-artifacts/")
    assert line(stdout, "INSTANCES") == "2"
    assert "DELETED" in stdout


def test_demo_multi_model_script(kiln_server: Any, tmp_path: Path) -> None:
    """What `kiln demo` runs: src/kiln/demo/project/multi_model.py on the demo's data (two scikit-learn
    training jobs, the seed's MultiDataModel, 30 more customers added while it serves, then CloudWatch)."""
    from kiln.demo.runner import lay_out_project

    lay_out_project(tmp_path)
    stdout = run_user_script(kiln_server, tmp_path, (tmp_path / "multi_model.py").read_text(),
                             endpoints=["customer-churn-mme-endpoint"])
    assert "32 models under s3://" in stdout, stdout[-2000:]
    a = json.loads(line(stdout, "customer-A.tar.gz").replace("'", '"'))["predictions"]
    b = json.loads(line(stdout, "customer-B.tar.gz").replace("'", '"'))["predictions"]
    assert a != b, "two models trained with different alpha answer differently"
    seed = next(text for text in stdout.splitlines() if "{'predictions'" in text and " " not in text.split("{")[0])
    assert seed.lstrip("!") == str({"predictions": a}), "the seed's invoke_endpoint reached customer-A"
    assert "unknown model: Failed to download model data" in stdout
    stats = json.loads(line(stdout, "CloudWatch:").replace("'", '"'))
    assert stats["ModelLoadingTime"] >= 32 and 0 < stats["LoadedModelCount"] <= 32
    sm = kiln_server.client("sagemaker")
    assert "customer-churn-mme-endpoint" not in [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]
                                                 if e["EndpointStatus"] != "Deleting"]
