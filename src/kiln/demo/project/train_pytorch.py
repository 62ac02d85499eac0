# The seed's "Custom Training Scripts with Framework Containers" example, unmodified but for the data.
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
