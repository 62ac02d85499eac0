# The seed's "Custom Training Scripts with Framework Containers" example, then its "Real-time Endpoint
# Deployment" example, unmodified but for the data (and deleting the endpoint at the end).
import json

import boto3
import sagemaker
from sagemaker.pytorch import PyTorch

sess = sagemaker.Session()
role = sagemaker.get_execution_role()
bucket = sess.default_bucket()
print(f"Default bucket: {bucket}\nExecution role: {role}")
sess.upload_data("data/train.csv", bucket, "data/train")
sess.upload_data("data/val.csv", bucket, "data/val")

estimator = PyTorch(
    entry_point="train.py",  # Your training script
    source_dir="./src",  # Directory containing train.py + requirements.txt
    role=role,
    instance_type="ml.p3.2xlarge",  # GPU instance (Kiln runs it on the CPU when there is no GPU)
    instance_count=1,
    framework_version="2.1",
    py_version="py310",
    hyperparameters={"epochs": 30, "batch-size": 64, "learning-rate": 0.001},
    output_path=f"s3://{bucket}/models/",
    environment={"WANDB_DISABLED": "true"},
)
estimator.fit({"train": f"s3://{bucket}/data/train/", "val": f"s3://{bucket}/data/val/"})
print(estimator.model_data)

# Deploy from a completed training job
predictor = estimator.deploy(
    initial_instance_count=2,
    instance_type="ml.m5.xlarge",
    endpoint_name="my-pytorch-endpoint",
    serializer=sagemaker.serializers.JSONSerializer(),
    deserializer=sagemaker.deserializers.JSONDeserializer(),
)
# Invoke the endpoint
response = predictor.predict({"inputs": [[1.2, 3.4, 5.6, 7.8]]})
print(response)  # {"predictions": [...]}
# --- Or invoke via boto3 directly ---
sm_rt = boto3.client("sagemaker-runtime")
response = sm_rt.invoke_endpoint(
    EndpointName="my-pytorch-endpoint",
    ContentType="application/json",
    Body=json.dumps({"inputs": [[1.2, 3.4, 5.6, 7.8]]}),
)
result = json.loads(response["Body"].read())
print(result)
# Auto scaling policy for the endpoint
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
        "TargetValue": 1000.0,  # Target: 1000 invocations per instance per minute
        "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
        "ScaleInCooldown": 300,
        "ScaleOutCooldown": 60,
    },
)
policies = aas.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]
print("Scaling policy:", policies[0]["PolicyName"])
predictor.delete_endpoint()
