"""Training jobs through boto3 against the live server: they really run the script."""

from __future__ import annotations

import io
import tarfile
from typing import Any

import pytest
from botocore.exceptions import ClientError

from training_helpers import log_lines, request, sourcedir, wait_for

TRAIN_OK = """
import json, os, sys
print("argv", json.dumps(sys.argv[1:]))
print("files", sorted(os.listdir(os.environ["SM_CHANNEL_TRAIN"])))
hps = json.loads(os.environ["SM_HPS"])
for epoch in range(int(hps["epochs"])):
    print(f"epoch={epoch} loss={1.0 / (epoch + 1):.3f}")
with open(os.path.join(os.environ["SM_MODEL_DIR"], "model.json"), "w") as f:
    json.dump({"lr": hps["lr"], "data": open(os.environ["SM_CHANNEL_TRAIN"] + "/part.csv").read()}, f)
with open("/opt/ml/output/data/report.txt", "w") as f:
    f.write("ok")
"""


@pytest.fixture(scope="module")
def bucket(aws_client: Any) -> str:
    s3 = aws_client("s3")
    name = "kiln-training-contract"
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="data/train/part.csv", Body=b"1,2\n3,4\n")
    return name


def _upload(s3: Any, bucket: str, name: str, files: dict[str, str]) -> None:
    s3.put_object(Bucket=bucket, Key=f"{name}/source/sourcedir.tar.gz", Body=sourcedir(files))


def test_job_runs_script_and_uploads_model(aws_client: Any, bucket: str, unique_name: str) -> None:
    sm, s3, logs = aws_client("sagemaker"), aws_client("s3"), aws_client("logs")
    _upload(s3, bucket, unique_name, {"train.py": TRAIN_OK})
    arn = sm.create_training_job(**request(unique_name, bucket, hps={"epochs": "3", "lr": "0.05"},
                                           channels={"train": f"s3://{bucket}/data/train/"}))["TrainingJobArn"]
    assert arn == f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{unique_name}"
    desc = wait_for(sm, unique_name)
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    assert [t["Status"] for t in desc["SecondaryStatusTransitions"]] == [
        "Starting", "Downloading", "Training", "Uploading", "Completed"]
    assert all("StatusMessage" in t for t in desc["SecondaryStatusTransitions"])
    assert desc["OutputDataConfig"]["KmsKeyId"] == ""
    assert desc["TrainingTimeInSeconds"] >= 1 and desc["BillableTimeInSeconds"] >= 1
    assert desc["FinalMetricDataList"][0]["MetricName"] == "loss"
    assert desc["FinalMetricDataList"][0]["Value"] == pytest.approx(0.333)
    uri = desc["ModelArtifacts"]["S3ModelArtifacts"]
    assert uri == f"s3://{bucket}/out/{unique_name}/output/model.tar.gz"
    body = s3.get_object(Bucket=bucket, Key=f"out/{unique_name}/output/model.tar.gz")["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        model = tar.extractfile("model.json").read().decode()  # type: ignore[union-attr]
    assert '"lr": 0.05' in model and "1,2" in model
    out = s3.get_object(Bucket=bucket, Key=f"out/{unique_name}/output/output.tar.gz")["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(out)) as tar:
        assert tar.extractfile("report.txt").read() == b"ok"  # type: ignore[union-attr]
    lines = log_lines(logs, unique_name)
    assert 'argv ["--epochs", "3", "--lr", "0.05"]' in lines
    assert "files ['part.csv']" in lines


def test_failing_script_reports_reason(aws_client: Any, bucket: str, unique_name: str) -> None:
    sm, s3 = aws_client("sagemaker"), aws_client("s3")
    _upload(s3, bucket, unique_name, {"train.py": "print('about to fail')\nraise SystemExit(3)\n"})
    sm.create_training_job(**request(unique_name, bucket))
    desc = wait_for(sm, unique_name)
    assert desc["TrainingJobStatus"] == "Failed"
    assert desc["SecondaryStatus"] == "Failed"
    assert "ExitCode 3" in desc["FailureReason"] and "about to fail" in desc["FailureReason"]


def test_failure_file_becomes_reason(aws_client: Any, bucket: str, unique_name: str) -> None:
    sm, s3 = aws_client("sagemaker"), aws_client("s3")
    script = "open('/opt/ml/output/failure', 'w').write('ClientError: bad data in row 7')\nraise SystemExit(1)\n"
    _upload(s3, bucket, unique_name, {"train.py": script})
    sm.create_training_job(**request(unique_name, bucket))
    desc = wait_for(sm, unique_name)
    assert desc["FailureReason"] == "ClientError: bad data in row 7"


def test_missing_channel_prefix_fails_like_sagemaker(aws_client: Any, bucket: str, unique_name: str) -> None:
    sm, s3 = aws_client("sagemaker"), aws_client("s3")
    _upload(s3, bucket, unique_name, {"train.py": TRAIN_OK})
    sm.create_training_job(**request(unique_name, bucket, hps={"epochs": "1", "lr": "1"},
                                     channels={"train": f"s3://{bucket}/no/such/prefix/"}))
    desc = wait_for(sm, unique_name)
    assert desc["TrainingJobStatus"] == "Failed"
    assert desc["FailureReason"].startswith("ClientError: Data download failed:No S3 objects found")


def test_stop_keeps_saved_model(aws_client: Any, bucket: str, unique_name: str) -> None:
    sm, s3 = aws_client("sagemaker"), aws_client("s3")
    script = """
    import os, time
    open(os.environ["SM_MODEL_DIR"] + "/partial.txt", "w").write("half")
    print("saved", flush=True)
    time.sleep(300)
    """
    _upload(s3, bucket, unique_name, {"train.py": script})
    sm.create_training_job(**request(unique_name, bucket))
    wait_for(sm, unique_name, secondary="Training")
    sm.stop_training_job(TrainingJobName=unique_name)
    assert sm.describe_training_job(TrainingJobName=unique_name)["TrainingJobStatus"] in ("Stopping", "Stopped")
    desc = wait_for(sm, unique_name)
    assert (desc["TrainingJobStatus"], desc["SecondaryStatus"]) == ("Stopped", "Stopped")
    assert desc["ModelArtifacts"]["S3ModelArtifacts"].endswith("/output/model.tar.gz")
    with pytest.raises(ClientError) as err:
        sm.stop_training_job(TrainingJobName=unique_name)
    assert err.value.response["Error"]["Code"] == "ValidationException"


def test_max_runtime_exceeded(aws_client: Any, bucket: str, unique_name: str) -> None:
    sm, s3 = aws_client("sagemaker"), aws_client("s3")
    _upload(s3, bucket, unique_name, {"train.py": "import time\nprint('long', flush=True)\ntime.sleep(300)\n"})
    sm.create_training_job(**request(unique_name, bucket, max_runtime=2))
    desc = wait_for(sm, unique_name, timeout=60)
    assert (desc["TrainingJobStatus"], desc["SecondaryStatus"]) == ("Stopped", "MaxRuntimeExceeded")


def test_errors_and_listing(aws_client: Any, bucket: str, unique_name: str) -> None:
    sm = aws_client("sagemaker")
    with pytest.raises(ClientError) as err:
        sm.describe_training_job(TrainingJobName="does-not-exist")
    assert err.value.response["Error"]["Code"] == "ValidationException"
    raw = aws_client("sagemaker", parameter_validation=False)
    with pytest.raises(ClientError) as err:
        raw.create_training_job(**request("bad name!", bucket))
    assert "trainingJobName" in err.value.response["Error"]["Message"]
    bad_hp = request(unique_name + "-hp", bucket)
    bad_hp["HyperParameters"]["epochs"] = 3
    with pytest.raises(ClientError) as err:
        raw.create_training_job(**bad_hp)
    assert err.value.response["Error"]["Code"] == "SerializationException"
    spot = request(unique_name + "-sp", bucket, EnableManagedSpotTraining=True)
    with pytest.raises(ClientError) as err:
        sm.create_training_job(**spot)
    assert "MaxWaitTimeInSeconds" in err.value.response["Error"]["Message"]
    s3 = aws_client("s3")
    _upload(s3, bucket, unique_name, {"train.py": "print('hi')\n"})
    sm.create_training_job(**request(unique_name, bucket))
    with pytest.raises(ClientError) as err:
        sm.create_training_job(**request(unique_name, bucket))
    assert err.value.response["Error"]["Code"] == "ResourceInUse"
    wait_for(sm, unique_name)
    names = [s["TrainingJobName"] for page in sm.get_paginator("list_training_jobs").paginate(
        NameContains=unique_name, PaginationConfig={"PageSize": 1}) for s in page["TrainingJobSummaries"]]
    assert names == [unique_name]
    done = sm.list_training_jobs(StatusEquals="Completed", MaxResults=100)["TrainingJobSummaries"]
    assert unique_name in [s["TrainingJobName"] for s in done]
