# The seed's "Multi-Model Endpoints" example with the SageMaker SDK v2, unmodified apart from its data
# (four features, as the demo's data has) and where the trained models come from: two scikit-learn
# training jobs (customers A and B) whose script also holds the inference functions, the SDK's sklearn
# pattern. Then 30 more customers' artifacts land under the prefix while the endpoint runs, each is
# invoked, and CloudWatch shows what the endpoint loaded.
import json
import os
import time
from datetime import UTC, datetime, timedelta

import boto3
import sagemaker
from sagemaker.sklearn import SKLearn

TRAIN = '''
import argparse, glob, json, os
import joblib
import numpy as np
from sklearn.linear_model import Ridge


def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))


def input_fn(body, content_type):
    return np.array(json.loads(body)["inputs"], dtype=float)


def predict_fn(data, model):
    return model.predict(data)


def output_fn(prediction, accept):
    return json.dumps({"predictions": [round(float(p), 3) for p in prediction]}), "application/json"


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--alpha", type=float, default=1.0)
    args = parser.parse_args()
    files = glob.glob(os.path.join(os.environ["SM_CHANNEL_TRAIN"], "*.csv"))
    data = np.concatenate([np.loadtxt(f, delimiter=",", ndmin=2) for f in files])
    model = Ridge(alpha=args.alpha).fit(data[:, 1:], data[:, 0])
    joblib.dump(model, os.path.join(os.environ["SM_MODEL_DIR"], "model.joblib"))
'''
os.makedirs("mme_src", exist_ok=True)
with open("mme_src/churn.py", "w") as f:
    f.write(TRAIN)

sess = sagemaker.Session()
role = sagemaker.get_execution_role()
bucket = sess.default_bucket()
s3 = boto3.client("s3")
sess.upload_data("data/train.csv", bucket, "mme-data/train")
artifacts = {}
for customer, alpha in (("customer-A", 1.0), ("customer-B", 500.0)):
    estimator = SKLearn(entry_point="churn.py", source_dir="./mme_src", role=role, instance_type="ml.m5.large",
                        instance_count=1, framework_version="1.2-1", py_version="py3",
                        hyperparameters={"alpha": alpha}, output_path=f"s3://{bucket}/training/{customer}/")
    estimator.fit({"train": f"s3://{bucket}/mme-data/train/"}, logs=False)
    src_bucket, src_key = estimator.model_data[len("s3://"):].split("/", 1)
    s3.copy({"Bucket": src_bucket, "Key": src_key}, bucket, f"models/{customer}/model.tar.gz")
    artifacts[customer] = f"s3://{bucket}/models/{customer}/model.tar.gz"

# --- the seed ---
from sagemaker.multidatamodel import MultiDataModel  # noqa: E402

# All model artifacts live in the same S3 prefix
model_data_prefix = f"s3://{bucket}/multi-model-artifacts/"
mme = MultiDataModel(
    name="customer-churn-mme",
    model_data_prefix=model_data_prefix,
    model=estimator.create_model(),  # Base container
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
    TargetModel="customer-A.tar.gz",  # SageMaker routes to this specific model
    Body=json.dumps({"inputs": [[1.2, 3.4, 5.6, 7.8]]}),
)
print(json.loads(response["Body"].read()))
# --- end of the seed ---

mme.add_model(model_data_source=artifacts["customer-B"], model_data_path="customer-B.tar.gz")
for i in range(30):  # more customers, added while the endpoint serves
    mme.add_model(model_data_source=artifacts["customer-A" if i % 2 else "customer-B"],
                  model_data_path=f"customer-{i:03d}.tar.gz")
print(f"{len(list(mme.list_models()))} models under {model_data_prefix}")
started = time.time()
for name in ["customer-B.tar.gz", *(f"customer-{i:03d}.tar.gz" for i in range(30)), "customer-A.tar.gz"]:
    out = json.loads(sm_rt.invoke_endpoint(EndpointName="customer-churn-mme-endpoint", ContentType="application/json",
                                           TargetModel=name, Body=json.dumps({"inputs": [[1.2, 3.4, 5.6, 7.8]]}))
                     ["Body"].read())
    if name in ("customer-B.tar.gz", "customer-A.tar.gz"):
        print(name, out)
print(f"32 invocations, 30 of them first loads, in {time.time() - started:.1f} s")
try:
    sm_rt.invoke_endpoint(EndpointName="customer-churn-mme-endpoint", ContentType="application/json",
                          TargetModel="customer-Z.tar.gz", Body=json.dumps({"inputs": [[1, 2, 3, 4]]}))
except sm_rt.exceptions.ValidationError as exc:
    print("unknown model:", exc.response["Error"]["Message"][:80], "...")

cw = boto3.client("cloudwatch")
dims = [{"Name": "EndpointName", "Value": "customer-churn-mme-endpoint"},
        {"Name": "VariantName", "Value": "AllTraffic"}]
deadline = time.time() + 30
while time.time() < deadline:  # endpoint metrics reach CloudWatch every 10 s
    now = datetime.now(UTC)
    stats = {}
    for metric, stat in (("ModelCacheHit", "Average"), ("ModelLoadingTime", "SampleCount"),
                         ("ModelDownloadingTime", "Average"), ("LoadedModelCount", "Maximum")):
        points = cw.get_metric_statistics(Namespace="AWS/SageMaker", MetricName=metric, Dimensions=dims,
                                          StartTime=now - timedelta(minutes=15), EndTime=now + timedelta(minutes=1),
                                          Period=3600, Statistics=[stat])["Datapoints"]
        if points:
            stats[metric] = round(points[0][stat], 3)
    if stats.get("ModelLoadingTime", 0) >= 32:
        print("CloudWatch:", stats)
        break
    time.sleep(2)
predictor.delete_endpoint()
mme.delete_model()
