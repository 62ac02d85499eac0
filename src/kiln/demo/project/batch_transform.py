# Batch transform with the SageMaker SDK v2: the built-in XGBoost algorithm trained on data/train.csv,
# then `estimator.transformer(...)` scores data/val.csv offline, twice:
#   1. the features only (the usual `transform(s3_input, content_type="text/csv", split_type="Line")`),
#      predictions read back from the `.out` file next to the labels, with Model Monitor's batch data
#      capture: manifests of the inputs and outputs, and an inference id and time on every record;
#   2. the labelled file with DataProcessing: InputFilter drops the label before the model sees the
#      row, JoinSource="Input" joins each prediction to its input row, OutputFilter keeps
#      label,prediction.
# Kiln starts a real model server per instance, splits the CSV into MultiRecord batches, and writes
# logs to CloudWatch Logs (/aws/sagemaker/TransformJobs), which `transformer.wait()` tails.
import boto3
import numpy as np
import sagemaker
from sagemaker import image_uris
from sagemaker.estimator import Estimator
from sagemaker.inputs import BatchDataCaptureConfig, TrainingInput

sess = sagemaker.Session()
role = sagemaker.get_execution_role()
bucket = sess.default_bucket()
s3 = boto3.client("s3")

train = sess.upload_data("data/train.csv", bucket, "batch/train")
xgb = Estimator(
    image_uri=image_uris.retrieve("xgboost", sess.boto_region_name, "1.7-1"),
    role=role,
    instance_count=1,
    instance_type="ml.m5.xlarge",
    output_path=f"s3://{bucket}/batch/model",
)
xgb.set_hyperparameters(objective="reg:squarederror", num_round=50, max_depth=4, eta=0.2)
xgb.fit({"train": TrainingInput(train, content_type="text/csv")}, logs=False)

# --- 1. Score the features (label column dropped) ---
val = np.loadtxt("data/val.csv", delimiter=",")
np.savetxt("data/val_features.csv", val[:, 1:], delimiter=",", fmt="%.6f")
s3_input = sess.upload_data("data/val_features.csv", bucket, "batch/input")

transformer = xgb.transformer(instance_count=1, instance_type="ml.m5.xlarge",
                              output_path=f"s3://{bucket}/batch/output", strategy="MultiRecord",
                              assemble_with="Line", accept="text/csv")
transformer.transform(s3_input, content_type="text/csv", split_type="Line",
                      batch_data_capture_config=BatchDataCaptureConfig(
                          destination_s3_uri=f"s3://{bucket}/batch/capture", generate_inference_id=True))
transformer.wait()
body = s3.get_object(Bucket=bucket, Key="batch/output/val_features.csv.out")["Body"].read().decode()
records = [line.split(",") for line in body.splitlines()]  # prediction, inference id, inference time
predictions = np.array([r[0] for r in records], dtype=float)
rmse = float(np.sqrt(np.mean((predictions - val[:, 0]) ** 2)))
print(f"scored {len(predictions)} rows; RMSE against the labels: {rmse:.4f}")
print("first record:", ",".join(records[0]))
for obj in s3.list_objects_v2(Bucket=bucket, Prefix="batch/capture/")["Contents"]:
    print("captured:", obj["Key"], s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read().decode())

# --- 2. The labelled file: filter the input, join the predictions to it, keep label,prediction ---
s3_labelled = sess.upload_data("data/val.csv", bucket, "batch/labelled")
joined = xgb.transformer(instance_count=1, instance_type="ml.m5.xlarge",
                         output_path=f"s3://{bucket}/batch/joined", assemble_with="Line", accept="text/csv")
joined.transform(s3_labelled, content_type="text/csv", split_type="Line",
                 input_filter="$[1:]", join_source="Input", output_filter="$[0,-1]")
joined.wait(logs=False)
body = s3.get_object(Bucket=bucket, Key="batch/joined/val.csv.out")["Body"].read().decode()
pairs = np.array([line.split(",") for line in body.splitlines()], dtype=float)
print("label,prediction:", ", ".join(f"{a:.3f},{b:.3f}" for a, b in pairs[:3]), "...")
assert np.allclose(pairs[:, 1], predictions, atol=1e-4), "the joined run scored the same rows"
desc = boto3.client("sagemaker").describe_transform_job(TransformJobName=joined.latest_transform_job.name)
print("transform job", desc["TransformJobStatus"], "in",
      round((desc["TransformEndTime"] - desc["TransformStartTime"]).total_seconds(), 2), "s")
