# The seed's "Serverless Inference" example: the estimator trained by src/train.py, deployed with a
# ServerlessInferenceConfig (unmodified), then predictions. The endpoint holds no model server while
# idle: the first prediction starts one (the cold start), the next ones find it warm.
import json
import time

import boto3
import sagemaker
from sagemaker.pytorch import PyTorch
from sagemaker.serverless import ServerlessInferenceConfig

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
    hyperparameters={"epochs": 10},
)
estimator.fit({"train": f"s3://{bucket}/data/train/"}, logs=False)

serverless_config = ServerlessInferenceConfig(
    memory_size_in_mb=2048,  # 1024, 2048, 3072, 4096, 5120, or 6144
    max_concurrency=10,  # Max concurrent invocations
)
predictor = estimator.deploy(
    serverless_inference_config=serverless_config,
    endpoint_name="my-serverless-endpoint",
)
desc = boto3.client("sagemaker").describe_endpoint(EndpointName="my-serverless-endpoint")
print(desc["EndpointStatus"], "serverless:", desc["ProductionVariants"][0]["CurrentServerlessConfig"])

# src/train.py's input_fn/output_fn speak JSON
predictor.serializer = sagemaker.serializers.JSONSerializer()
predictor.deserializer = sagemaker.deserializers.JSONDeserializer()
for attempt in ("cold start", "warm", "warm"):
    t0 = time.perf_counter()
    response = predictor.predict({"inputs": [[1.2, 3.4, 5.6, 7.8]]})
    print(f"{attempt:10} {(time.perf_counter() - t0) * 1000:7.1f} ms  {json.dumps(response)}")
predictor.delete_endpoint()
