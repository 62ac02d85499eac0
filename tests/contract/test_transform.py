"""Batch transform against the live server with boto3: jobs really run the model (a scikit-learn
model from a model.tar.gz with its inference.py, and Kiln's built-in XGBoost), outputs are checked
numerically, and the job's log, status times, failures and validation are SageMaker's."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import test_transform_helpers as h
from botocore.exceptions import ClientError


@pytest.fixture(scope="module")
def model(aws_client: Any) -> Iterator[str]:
    h.setup_model(aws_client("s3"), aws_client("sagemaker"), "transform-linear")
    yield "transform-linear"


def _code(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


def _values(data: bytes) -> list[list[float]]:
    return [[float(v) for v in line.split(",")] for line in data.decode().splitlines()]


def test_csv_lines_multi_record_over_two_instances(aws_client: Any, model: str, unique_name: str) -> None:
    s3, sm, logs = aws_client("s3"), aws_client("sagemaker"), aws_client("logs")
    big, small = h.rows(40000, 1), h.rows(7, 2)
    s3.put_object(Bucket=h.BUCKET, Key=f"{unique_name}/in/a.csv", Body=h.csv_bytes(big))
    s3.put_object(Bucket=h.BUCKET, Key=f"{unique_name}/in/sub/b.csv", Body=h.csv_bytes(small))
    request = h.job_request(unique_name, model, f"s3://{h.BUCKET}/{unique_name}/in/",
                            f"s3://{h.BUCKET}/{unique_name}/out", BatchStrategy="MultiRecord", MaxPayloadInMB=1,
                            MaxConcurrentTransforms=3, Environment={"BATCH_TAG": "1"},
                            TransformResources={"InstanceType": "ml.m5.xlarge", "InstanceCount": 2})
    arn = sm.create_transform_job(**request)["TransformJobArn"]
    assert arn.endswith(f":transform-job/{unique_name}")
    running = sm.describe_transform_job(TransformJobName=unique_name)
    assert running["TransformJobStatus"] == "InProgress" and "TransformEndTime" not in running
    desc = h.wait_job(sm, unique_name)
    assert desc["TransformJobStatus"] == "Completed", desc.get("FailureReason")
    assert desc["CreationTime"] <= desc["TransformStartTime"] <= desc["TransformEndTime"]
    assert desc["BatchStrategy"] == "MultiRecord" and desc["MaxPayloadInMB"] == 1
    assert desc["TransformResources"] == {"InstanceType": "ml.m5.xlarge", "InstanceCount": 2}
    assert desc["Environment"] == {"BATCH_TAG": "1"} and desc["TransformInput"]["CompressionType"] == "None"

    out_a = _values(h.read(s3, f"{unique_name}/out/a.csv.out"))
    out_b = _values(h.read(s3, f"{unique_name}/out/sub/b.csv.out"))
    assert len(out_a) == 40000 and len(out_b) == 7
    np.testing.assert_allclose([r[0] for r in out_a], h.expected(big), atol=1e-5)
    np.testing.assert_allclose([r[0] for r in out_b], h.expected(small), atol=1e-5)
    sizes = [int(r[1]) for r in out_a]
    assert 1 < max(sizes) < 40000  # several requests of many records each, all under 1 MB
    assert len(set(sizes)) >= 2 and {int(r[1]) for r in out_b} == {7}

    streams = logs.describe_log_streams(logGroupName="/aws/sagemaker/TransformJobs",
                                        logStreamNamePrefix=unique_name + "/")["logStreams"]
    assert len(streams) == 2 and all(s["logStreamName"].startswith(f"{unique_name}/i-") for s in streams)
    text = h.job_log(logs, unique_name)
    assert "[sagemaker logs]: MaxConcurrentTransforms=3, MaxPayloadInMB=1, BatchStrategy=MULTI_RECORD" in text


def test_single_record_join_and_filters_csv(aws_client: Any, model: str, unique_name: str) -> None:
    s3, sm = aws_client("s3"), aws_client("sagemaker")
    x = h.rows(5, 3)
    ids = [f"id{i}" for i in range(5)]
    s3.put_object(Bucket=h.BUCKET, Key=f"{unique_name}/in.csv", Body=h.csv_bytes(x, ids))
    request = h.job_request(unique_name, model, f"s3://{h.BUCKET}/{unique_name}/in.csv",
                            f"s3://{h.BUCKET}/{unique_name}/out/", BatchStrategy="SingleRecord",
                            Environment={"BATCH_TAG": "1"},
                            DataProcessing={"InputFilter": "$[1:]", "JoinSource": "Input",
                                            "OutputFilter": "$[0,-2,-1]"})
    sm.create_transform_job(**request)
    desc = h.wait_job(sm, unique_name)
    assert desc["TransformJobStatus"] == "Completed", desc.get("FailureReason")
    assert desc["DataProcessing"]["JoinSource"] == "Input"
    lines = h.read(s3, f"{unique_name}/out/in.csv.out").decode().splitlines()
    assert [line.split(",")[0] for line in lines] == ids
    np.testing.assert_allclose([float(line.split(",")[1]) for line in lines], h.expected(x), atol=1e-5)
    assert {line.split(",")[2] for line in lines} == {"1"}  # SingleRecord: one row per request


def test_json_lines_join_with_output_filter(aws_client: Any, model: str, unique_name: str) -> None:
    s3, sm = aws_client("s3"), aws_client("sagemaker")
    x = h.rows(6, 4)
    body = "\n".join(json.dumps({"id": i, "features": list(r), "note": "x"}) for i, r in enumerate(x)) + "\n"
    s3.put_object(Bucket=h.BUCKET, Key=f"{unique_name}/in/data.jsonl", Body=body.encode())
    request = h.job_request(unique_name, model, f"s3://{h.BUCKET}/{unique_name}/in",
                            f"s3://{h.BUCKET}/{unique_name}/out", BatchStrategy="MultiRecord",
                            TransformInput={"ContentType": "application/jsonlines"},
                            TransformOutput={"Accept": "application/jsonlines"},
                            DataProcessing={"InputFilter": "$.features", "JoinSource": "Input",
                                            "OutputFilter": "$['id','SageMakerOutput']"})
    sm.create_transform_job(**request)
    assert h.wait_job(sm, unique_name)["TransformJobStatus"] == "Completed"
    # S3Uri ".../in" (no slash) names a folder: the output of in/data.jsonl is out/data.jsonl.out
    docs = [json.loads(line) for line in h.read(s3, f"{unique_name}/out/data.jsonl.out").decode().splitlines()]
    assert [d["id"] for d in docs] == list(range(6)) and all(set(d) == {"id", "SageMakerOutput"} for d in docs)
    np.testing.assert_allclose([d["SageMakerOutput"]["score"] for d in docs], h.expected(x), atol=1e-5)


def test_manifest_gzip_split_none(aws_client: Any, model: str, unique_name: str) -> None:
    s3, sm = aws_client("s3"), aws_client("sagemaker")
    xs = [h.rows(3, 10), h.rows(4, 11)]
    for i, x in enumerate(xs):
        s3.put_object(Bucket=h.BUCKET, Key=f"{unique_name}/data/part-{i}.csv.gz", Body=gzip.compress(h.csv_bytes(x)))
    s3.put_object(Bucket=h.BUCKET, Key=f"{unique_name}/data/ignored.csv", Body=b"9,9,9,9\n")
    manifest = [{"prefix": f"s3://{h.BUCKET}/{unique_name}/data/"}, "part-0.csv.gz", "part-1.csv.gz"]
    s3.put_object(Bucket=h.BUCKET, Key=f"{unique_name}/manifest.json", Body=json.dumps(manifest).encode())
    request = h.job_request(unique_name, model, f"s3://{h.BUCKET}/{unique_name}/manifest.json",
                            f"s3://{h.BUCKET}/{unique_name}/out", Environment={"BATCH_TAG": "1"},
                            TransformInput={"SplitType": "None", "CompressionType": "Gzip",
                                            "DataSource": {"S3DataSource": {"S3DataType": "ManifestFile",
                                                                            "S3Uri": f"s3://{h.BUCKET}/{unique_name}/manifest.json"}}},
                            TransformOutput={"AssembleWith": "None"})
    sm.create_transform_job(**request)
    assert h.wait_job(sm, unique_name)["TransformJobStatus"] == "Completed"
    for i, x in enumerate(xs):
        got = _values(h.read(s3, f"{unique_name}/out/part-{i}.csv.gz.out"))
        np.testing.assert_allclose([r[0] for r in got], h.expected(x), atol=1e-5)
        assert {int(r[1]) for r in got} == {len(x)}  # SplitType None: the whole object in one request
    listed = s3.list_objects_v2(Bucket=h.BUCKET, Prefix=f"{unique_name}/out/")["Contents"]
    assert sorted(o["Key"] for o in listed) == [f"{unique_name}/out/part-0.csv.gz.out",
                                                 f"{unique_name}/out/part-1.csv.gz.out"]


def test_recordio_records_single_and_multi(aws_client: Any, model: str, unique_name: str) -> None:
    s3, sm = aws_client("s3"), aws_client("sagemaker")
    x = h.rows(9, 5)
    framed = h.recordio([",".join(f"{v:g}" for v in r).encode() for r in x])
    s3.put_object(Bucket=h.BUCKET, Key=f"{unique_name}/in/data.rec", Body=framed)
    for strategy, size in (("SingleRecord", {1}), ("MultiRecord", {9})):
        name = f"{unique_name}-{strategy[0].lower()}"
        sm.create_transform_job(**h.job_request(
            name, model, f"s3://{h.BUCKET}/{unique_name}/in/", f"s3://{h.BUCKET}/{name}/out",
            BatchStrategy=strategy, Environment={"BATCH_TAG": "1"},
            TransformInput={"SplitType": "RecordIO", "ContentType": "application/x-recordio"}))
        assert h.wait_job(sm, name)["TransformJobStatus"] == "Completed"
        got = _values(h.read(s3, f"{name}/out/data.rec.out"))
        np.testing.assert_allclose([r[0] for r in got], h.expected(x), atol=1e-5)
        assert {int(r[1]) for r in got} == size


def test_failed_record_fails_the_job_as_sagemaker_does(aws_client: Any, model: str, unique_name: str) -> None:
    s3, sm, logs = aws_client("s3"), aws_client("sagemaker"), aws_client("logs")
    s3.put_object(Bucket=h.BUCKET, Key=f"{unique_name}/in/bad.csv", Body=b"1,2,3,4\nboom,0,0,0\n")
    sm.create_transform_job(**h.job_request(unique_name, model, f"s3://{h.BUCKET}/{unique_name}/in/",
                                            f"s3://{h.BUCKET}/{unique_name}/out",
                                            ModelClientConfig={"InvocationsMaxRetries": 0}))
    desc = h.wait_job(sm, unique_name)
    assert desc["TransformJobStatus"] == "Failed"
    assert desc["FailureReason"] == "AlgorithmError: See job logs for more information"
    text = h.job_log(logs, unique_name)
    assert f"{h.BUCKET}/{unique_name}/in/bad.csv: Bad HTTP status received from algorithm: 500" in text
    assert "boom row in the request" in text
    summaries = sm.list_transform_jobs(NameContains=unique_name)["TransformJobSummaries"]
    assert summaries[0]["FailureReason"] == desc["FailureReason"] and "TransformEndTime" in summaries[0]

    name = unique_name + "-415"
    sm.create_transform_job(**h.job_request(name, model, f"s3://{h.BUCKET}/{unique_name}/in/",
                                            f"s3://{h.BUCKET}/{name}/out",
                                            TransformInput={"ContentType": "application/x-reject"}))
    desc = h.wait_job(sm, name)
    assert desc["FailureReason"] == "ClientError: See job logs for more information"
    assert f"{h.BUCKET}/{unique_name}/in/bad.csv: ClientError: 415" in h.job_log(logs, name)


def test_record_larger_than_payload_limit(aws_client: Any, model: str, unique_name: str) -> None:
    s3, sm, logs = aws_client("s3"), aws_client("sagemaker"), aws_client("logs")
    s3.put_object(Bucket=h.BUCKET, Key=f"{unique_name}/in.csv", Body=b"1," * 600_000 + b"1\n")
    sm.create_transform_job(**h.job_request(unique_name, model, f"s3://{h.BUCKET}/{unique_name}/in.csv",
                                            f"s3://{h.BUCKET}/{unique_name}/out", MaxPayloadInMB=1,
                                            BatchStrategy="MultiRecord"))
    desc = h.wait_job(sm, unique_name)
    assert desc["TransformJobStatus"] == "Failed" and desc["FailureReason"].startswith("ClientError")
    assert "Too much data for max payload size" in h.job_log(logs, unique_name)


def test_stop_a_running_job(kiln_server: Any, aws_client: Any, model: str, unique_name: str) -> None:
    s3, sm = aws_client("s3"), aws_client("sagemaker")
    s3.put_object(Bucket=h.BUCKET, Key=f"{unique_name}/in.csv", Body=h.csv_bytes(h.rows(50, 6)))
    sm.create_transform_job(**h.job_request(unique_name, model, f"s3://{h.BUCKET}/{unique_name}/in.csv",
                                            f"s3://{h.BUCKET}/{unique_name}/out", BatchStrategy="SingleRecord",
                                            Environment={"SLEEP_S": "0.5"}))
    deadline = time.time() + 120
    while "TransformStartTime" not in sm.describe_transform_job(TransformJobName=unique_name):
        assert time.time() < deadline
        time.sleep(0.2)
    sm.stop_transform_job(TransformJobName=unique_name)
    assert sm.describe_transform_job(TransformJobName=unique_name)["TransformJobStatus"] in ("Stopping", "Stopped")
    desc = h.wait_job(sm, unique_name, until=("Stopped", "Completed", "Failed"))
    assert desc["TransformJobStatus"] == "Stopped" and "TransformEndTime" in desc
    runners = kiln_server.platform.transform.reconciler.runners
    deadline = time.time() + 30
    while unique_name in str(list(runners)) and not all(t.done() for t in runners.values()):
        assert time.time() < deadline
        time.sleep(0.2)
    with pytest.raises(ClientError) as exc:
        sm.stop_transform_job(TransformJobName=unique_name)
    assert _code(exc) == ("ValidationException",
                          "The request was rejected because the transform job is in status Stopped.")


def test_builtin_xgboost_image(aws_client: Any, unique_name: str, tmp_path: Any) -> None:
    import xgboost as xgb

    s3, sm = aws_client("s3"), aws_client("sagemaker")
    rng = np.random.default_rng(7)
    x = rng.normal(size=(500, 5)).astype(np.float32)
    y = x @ np.array([1.0, 2.0, -1.0, 0.5, 0.0]) + rng.normal(scale=0.1, size=500)
    booster = xgb.train({"objective": "reg:squarederror", "max_depth": 3}, xgb.DMatrix(x, label=y), 20)
    booster.save_model(str(tmp_path / "xgboost-model"))
    s3.put_object(Bucket=h.BUCKET, Key=f"{unique_name}/model.tar.gz",
                  Body=h.archive({"xgboost-model": (tmp_path / "xgboost-model").read_bytes()}))
    sm.create_model(ModelName=unique_name, ExecutionRoleArn=h.ROLE, PrimaryContainer={
        "Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
        "ModelDataUrl": f"s3://{h.BUCKET}/{unique_name}/model.tar.gz"})
    np.savetxt(tmp_path / "x.csv", x, delimiter=",", fmt="%.7g")
    s3.put_object(Bucket=h.BUCKET, Key=f"{unique_name}/in/x.csv", Body=(tmp_path / "x.csv").read_bytes())
    sm.create_transform_job(**h.job_request(unique_name, unique_name, f"s3://{h.BUCKET}/{unique_name}/in/",
                                            f"s3://{h.BUCKET}/{unique_name}/out", BatchStrategy="MultiRecord",
                                            MaxPayloadInMB=1))
    assert h.wait_job(sm, unique_name)["TransformJobStatus"] == "Completed"
    got = [float(v) for v in h.read(s3, f"{unique_name}/out/x.csv.out").decode().split()]
    parsed = np.loadtxt(tmp_path / "x.csv", delimiter=",", dtype=np.float32, ndmin=2)
    np.testing.assert_allclose(got, booster.predict(xgb.DMatrix(parsed)), rtol=1e-5, atol=1e-6)


def test_validation_errors(aws_client: Any, model: str, unique_name: str) -> None:
    sm = aws_client("sagemaker", parameter_validation=False)  # the server's own validation answers
    uri, out = f"s3://{h.BUCKET}/{unique_name}/in/", f"s3://{h.BUCKET}/{unique_name}/out"
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"ModelName": "no-such-model"}, "ValidationException", "Could not find model"),
        ({"MaxPayloadInMB": 101}, "ValidationException", "MaxPayloadInMB"),
        ({"MaxPayloadInMB": 30, "MaxConcurrentTransforms": 4}, "ValidationException", "cannot exceed 100 MB"),
        ({"DataProcessing": {"InputFilter": "$..x"}}, "ValidationException", "recursive descent"),
        ({"TransformInput": {"ContentType": "image/png"}, "DataProcessing": {"JoinSource": "Input"}},
         "ValidationException", "ContentType"),
        ({"TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 0}}, "ValidationException",
         "transformResources.instanceCount"),
        ({"BatchStrategy": "Lots"}, "ValidationException", "batchStrategy"),
        ({"DataCaptureConfig": {"DestinationS3Uri": "https://example.com/capture"}}, "ValidationException",
         "dataCaptureConfig.destinationS3Uri"),
        ({"TransformOutput": {"Accept": "image/png"}, "DataCaptureConfig": {"DestinationS3Uri": out,
                                                                            "GenerateInferenceId": True}},
         "ValidationException", "GenerateInferenceId supports CSV, JSON and JSON Lines outputs"),
        ({"TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "AugmentedManifestFile", "S3Uri": uri}}}},
         "ValidationException", "AugmentedManifestFile"),
        ({"TransformOutput": {"S3OutputPath": "https://example.com/out"}}, "ValidationException",
         "transformOutput.s3OutputPath"),
    ]
    for change, code, text in cases:
        request = h.job_request(unique_name, model, uri, out)
        for key, value in change.items():
            if isinstance(value, dict) and key in ("TransformInput", "TransformOutput"):
                request[key] = {**request[key], **value}
            else:
                request[key] = value
        with pytest.raises(ClientError) as exc:
            sm.create_transform_job(**request)
        got_code, message = _code(exc)
        assert got_code == code and text in message, (change, message)
    with pytest.raises(ClientError) as exc:
        sm.describe_transform_job(TransformJobName="never-created-" + unique_name)
    assert _code(exc)[0] == "ValidationException"
    with pytest.raises(ClientError) as exc:
        sm.stop_transform_job(TransformJobName="never-created-" + unique_name)
    assert _code(exc)[0] == "ValidationException"


def test_duplicate_name_list_filters_and_pagination(aws_client: Any, model: str, unique_name: str) -> None:
    s3, sm = aws_client("s3"), aws_client("sagemaker")
    s3.put_object(Bucket=h.BUCKET, Key=f"{unique_name}/in.csv", Body=h.csv_bytes(h.rows(3, 8)))
    names = [f"{unique_name}-{i}" for i in range(3)]
    for name in names:
        sm.create_transform_job(**h.job_request(name, model, f"s3://{h.BUCKET}/{unique_name}/in.csv",
                                                f"s3://{h.BUCKET}/{name}/out"))
    with pytest.raises(ClientError) as exc:
        sm.create_transform_job(**h.job_request(names[0], model, f"s3://{h.BUCKET}/{unique_name}/in.csv",
                                                f"s3://{h.BUCKET}/x/out"))
    assert _code(exc)[0] == "ResourceInUse"
    for name in names:
        h.wait_job(sm, name)
    seen, token = [], None
    while True:
        kwargs: dict[str, Any] = {"NameContains": unique_name, "MaxResults": 2, "SortBy": "Name",
                                  "SortOrder": "Ascending"}
        if token:
            kwargs["NextToken"] = token
        page = sm.list_transform_jobs(**kwargs)
        seen += [s["TransformJobName"] for s in page["TransformJobSummaries"]]
        token = page.get("NextToken")
        if not token:
            break
    assert seen == names
    paginated = [s["TransformJobName"] for p in sm.get_paginator("list_transform_jobs").paginate(
        NameContains=unique_name, PaginationConfig={"PageSize": 1}) for s in p["TransformJobSummaries"]]
    assert sorted(paginated) == names
    completed = sm.list_transform_jobs(NameContains=unique_name, StatusEquals="Completed")["TransformJobSummaries"]
    assert sorted(s["TransformJobName"] for s in completed) == names
    assert sm.list_transform_jobs(NameContains=unique_name, StatusEquals="Failed")["TransformJobSummaries"] == []
    newest = sm.list_transform_jobs(NameContains=unique_name, MaxResults=1)["TransformJobSummaries"][0]
    assert newest["TransformJobName"] == names[-1]
