# The seed's "Spot Training" example, unmodified but for the data and a per-epoch pause (so that the
# demo can interrupt it mid-training: `kiln spot interrupt <job>`).
import boto3
import sagemaker
from sagemaker.pytorch import PyTorch

sess = sagemaker.Session()
role = sagemaker.get_execution_role()
bucket = sess.default_bucket()

estimator = PyTorch(
    entry_point="train.py",
    source_dir="./src",
    role=role,
    instance_type="ml.p3.2xlarge",
    instance_count=1,
    framework_version="2.1",
    py_version="py310",
    # --- Spot training settings ---
    use_spot_instances=True,
    max_run=7200,  # Maximum total training time: 2 hours
    max_wait=10800,  # Max time including spot waits: 3 hours
    checkpoint_s3_uri=f"s3://{bucket}/checkpoints/my-job/",
    checkpoint_local_path="/opt/ml/checkpoints",
    hyperparameters={"epochs": 50},
    environment={"EPOCH_SLEEP": "0.2"},
)
estimator.fit({"train": f"s3://{bucket}/data/train/"})

# Check savings in the training job metadata
job_name = estimator.latest_training_job.name
sm = boto3.client("sagemaker")
desc = sm.describe_training_job(TrainingJobName=job_name)
billed = desc["BillableTimeInSeconds"]
total = desc["TrainingTimeInSeconds"]
savings = round((1 - billed / total) * 100, 1)
print(f"Spot savings: {savings}% (billed {billed}s of {total}s)")
