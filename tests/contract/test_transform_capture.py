"""Batch transform data capture (`DataCaptureConfig`) against the live server: the input and output
manifests under `<DestinationS3Uri>/{input,output}/yyyy/mm/dd/hh/`, and `GenerateInferenceId`
appending an inference id and the transform start time to every CSV and JSON Lines record."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC
from typing import Any

import numpy as np
import pytest
import test_transform_helpers as h

from kiln.services.transform import capture
from kiln.services.transform.dataproc import ProcessingError


@pytest.fixture(scope="module")
def model(aws_client: Any) -> Iterator[str]:
    h.setup_model(aws_client("s3"), aws_client("sagemaker"), "transform-capture")
    yield "transform-capture"


def manifests(s3: Any, prefix: str) -> dict[str, list[Any]]:
    """{'input': manifest, 'output': manifest} found under the capture prefix, with their hour folders."""
    found: dict[str, list[Any]] = {}
    for obj in s3.list_objects_v2(Bucket=h.BUCKET, Prefix=prefix)["Contents"]:
        side, hour = obj["Key"][len(prefix):].split("/", 1)
        found[side] = [hour.rsplit("/", 1)[0], json.loads(h.read(s3, obj["Key"]))]
    return found


def test_csv_inference_ids_and_manifests(aws_client: Any, model: str, unique_name: str) -> None:
    s3, sm = aws_client("s3"), aws_client("sagemaker")
    a, b = h.rows(300, 21), h.rows(5, 22)
    s3.put_object(Bucket=h.BUCKET, Key=f"{unique_name}/in/a.csv", Body=h.csv_bytes(a))
    s3.put_object(Bucket=h.BUCKET, Key=f"{unique_name}/in/sub/b.csv", Body=h.csv_bytes(b))
    capture_uri = f"s3://{h.BUCKET}/{unique_name}/capture"
    sm.create_transform_job(**h.job_request(
        unique_name, model, f"s3://{h.BUCKET}/{unique_name}/in/", f"s3://{h.BUCKET}/{unique_name}/out",
        BatchStrategy="MultiRecord", MaxPayloadInMB=1,
        DataCaptureConfig={"DestinationS3Uri": capture_uri, "GenerateInferenceId": True, "KmsKeyId": "alias/x"}))
    desc = h.wait_job(sm, unique_name)
    assert desc["TransformJobStatus"] == "Completed", desc.get("FailureReason")
    assert desc["DataCaptureConfig"] == {"DestinationS3Uri": capture_uri, "GenerateInferenceId": True,
                                         "KmsKeyId": "alias/x"}
    started = desc["TransformStartTime"].astimezone(UTC)

    rows = [line.split(",") for line in h.read(s3, f"{unique_name}/out/a.csv.out").decode().splitlines()]
    assert len(rows) == 300 and all(len(r) == 3 for r in rows)
    np.testing.assert_allclose([float(r[0]) for r in rows], h.expected(a), atol=1e-5)
    ids = [r[1] for r in rows]
    assert len(set(ids)) == 300 and all(uuid.UUID(i).version == 4 for i in ids)
    assert {r[2] for r in rows} == {started.strftime("%Y-%m-%dT%H:%M:%SZ")}
    assert len(h.read(s3, f"{unique_name}/out/sub/b.csv.out").decode().splitlines()) == 5

    found = manifests(s3, f"{unique_name}/capture/")
    hour = started.strftime("%Y/%m/%d/%H")
    assert found["input"] == [hour, [{"prefix": f"s3://{h.BUCKET}/{unique_name}/in/"}, "a.csv", "sub/b.csv"]]
    assert found["output"] == [hour, [{"prefix": f"s3://{h.BUCKET}/{unique_name}/out/"}, "a.csv.out",
                                      "sub/b.csv.out"]]
    for side in ("input", "output"):  # every manifest entry names an object that exists
        base = found[side][1][0]["prefix"][len(f"s3://{h.BUCKET}/"):]
        for rel in found[side][1][1:]:
            s3.head_object(Bucket=h.BUCKET, Key=base + rel)


def test_json_lines_inference_ids_without_id_generation_too(aws_client: Any, model: str, unique_name: str) -> None:
    s3, sm = aws_client("s3"), aws_client("sagemaker")
    x = h.rows(4, 23)
    body = "\n".join(json.dumps(list(r)) for r in x) + "\n"
    s3.put_object(Bucket=h.BUCKET, Key=f"{unique_name}/in/data.jsonl", Body=body.encode())
    jsonl = {"ContentType": "application/jsonlines"}
    for job, generate in ((f"{unique_name}-ids", True), (f"{unique_name}-plain", False)):
        sm.create_transform_job(**h.job_request(
            job, model, f"s3://{h.BUCKET}/{unique_name}/in/data.jsonl", f"s3://{h.BUCKET}/{job}/out",
            TransformInput=jsonl, TransformOutput={"Accept": "application/jsonlines"},
            DataCaptureConfig={"DestinationS3Uri": f"s3://{h.BUCKET}/{job}/capture/",
                               "GenerateInferenceId": generate}))
    for job, generate in ((f"{unique_name}-ids", True), (f"{unique_name}-plain", False)):
        desc = h.wait_job(sm, job)
        assert desc["TransformJobStatus"] == "Completed", desc.get("FailureReason")
        docs = [json.loads(line) for line in h.read(s3, f"{job}/out/data.jsonl.out").decode().splitlines()]
        np.testing.assert_allclose([d["score"] for d in docs], h.expected(x), atol=1e-5)
        if generate:
            assert all(set(d) == {"score", "SageMakerInferenceId", "SageMakerInferenceTime"} for d in docs)
            assert len({d["SageMakerInferenceId"] for d in docs}) == 4
        else:
            assert all(set(d) == {"score"} for d in docs)
        found = manifests(s3, f"{job}/capture/")
        assert found["input"][1] == [{"prefix": f"s3://{h.BUCKET}/{unique_name}/in/"}, "data.jsonl"]
        assert found["output"][1] == [{"prefix": f"s3://{h.BUCKET}/{job}/out/"}, "data.jsonl.out"]


def test_capture_to_a_missing_bucket_fails_the_job(aws_client: Any, model: str, unique_name: str) -> None:
    s3, sm = aws_client("s3"), aws_client("sagemaker")
    s3.put_object(Bucket=h.BUCKET, Key=f"{unique_name}/in.csv", Body=h.csv_bytes(h.rows(3, 24)))
    sm.create_transform_job(**h.job_request(
        unique_name, model, f"s3://{h.BUCKET}/{unique_name}/in.csv", f"s3://{h.BUCKET}/{unique_name}/out",
        DataCaptureConfig={"DestinationS3Uri": "s3://no-such-capture-bucket/x"}))
    desc = h.wait_job(sm, unique_name)
    assert desc["TransformJobStatus"] == "Failed"
    assert desc["FailureReason"].startswith("ClientError: Unable to write the captured data")


@pytest.mark.parametrize(("fmt", "data", "records", "check"), [
    ("csv", b"1.5\n2.5\n", 2, lambda out: [r.split(b",")[0] for r in out.splitlines()] == [b"1.5", b"2.5"]),
    ("csv", b"1.5,a\r\n", 1, lambda out: out.split(b",")[:2] == [b"1.5", b"a"] and b"\r" not in out),
    ("json", b'{"a": 1}\n7\n', 2, lambda out: [json.loads(r).get("a", json.loads(r).get("output"))
                                               for r in out.splitlines()] == [1, 7]),
    ("json", b'{\n  "a": [1, 2]\n}', 1, lambda out: json.loads(out)["a"] == [1, 2]),
])
def test_append_ids_keeps_the_records(fmt: str, data: bytes, records: int, check: Any) -> None:
    out = capture.append_ids(data, fmt, "2026-11-27T01:00:00Z")
    assert check(out)
    assert out.count(b"2026-11-27T01:00:00Z") == records
    assert out.endswith(b"\n") == data.endswith(b"\n")


def test_append_ids_refuses_output_that_is_not_json() -> None:
    with pytest.raises(ProcessingError, match="not JSON"):
        capture.append_ids(b"not json\n", "json", "2026-11-27T01:00:00Z")
