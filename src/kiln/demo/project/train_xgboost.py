# SageMaker's built-in XGBoost algorithm through the generic Estimator: no training script, just
# the image URI and the algorithm's documented hyperparameters (Kiln runs real xgboost for it).
import boto3
import sagemaker
from sagemaker import image_uris
from sagemaker.estimator import Estimator
from sagemaker.inputs import TrainingInput

sess = sagemaker.Session()
role = sagemaker.get_execution_role()
bucket = sess.default_bucket()
train = sess.upload_data("data/train.csv", bucket, "xgb/train")
val = sess.upload_data("data/val.csv", bucket, "xgb/validation")

xgb = Estimator(
    image_uri=image_uris.retrieve("xgboost", sess.boto_region_name, "1.7-1"),
    role=role,
    instance_count=1,
    instance_type="ml.m5.xlarge",
    output_path=f"s3://{bucket}/xgb/output",
)
xgb.set_hyperparameters(objective="reg:squarederror", num_round=50, max_depth=4, eta=0.2)
xgb.fit({"train": TrainingInput(train, content_type="text/csv"),
         "validation": TrainingInput(val, content_type="text/csv")})
desc = boto3.client("sagemaker").describe_training_job(TrainingJobName=xgb.latest_training_job.name)
print({m["MetricName"]: round(m["Value"], 4) for m in desc["FinalMetricDataList"]})
