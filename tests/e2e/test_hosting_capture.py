"""Data capture for real: an endpoint with DataCaptureConfig (100%, input and output, CSV and JSON
content types) on a `kiln server` subprocess whose periodic capture flush never comes; requests in
JSON, CSV and an unlisted type; SIGTERM; after a restart every record is in S3 under
`<DestinationS3Uri>/<endpoint>/<variant>/yyyy/mm/dd/hh/`, in SageMaker's JSON Lines capture format,
and matches what was sent and answered."""

from __future__ import annotations

import base64
import json
import re
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "contract"))
from test_hosting_helpers import create_model, upload_model, variant, wait_endpoint

from server_proc import ServerProcess

pytestmark = [pytest.mark.slow]
KEY = re.compile(r"^capture/captured/AllTraffic/\d{4}/\d{2}/\d{2}/\d{2}/[^/]+\.jsonl$")


def _records(s3: Any) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for obj in s3.list_objects_v2(Bucket="kiln-hosting-tests", Prefix="capture/")["Contents"]:
        body = s3.get_object(Bucket="kiln-hosting-tests", Key=obj["Key"])["Body"].read().decode()
        out += [(obj["Key"], json.loads(line)) for line in body.splitlines() if line.strip()]
    return out


def test_capture_written_in_sagemaker_format_and_flushed_on_shutdown(tmp_path: Path) -> None:
    env = {"KILN_HOSTING_CAPTURE_FLUSH_SECONDS": "3600"}
    server = ServerProcess(tmp_path / "data", **env).wait_healthy()
    sent: list[tuple[str, str, str | None]] = []  # content type, body, inference id
    answers: dict[str, str] = {}
    try:
        sm, s3, rt = server.client("sagemaker"), server.client("s3"), server.client("sagemaker-runtime")
        create_model(sm, "captured", upload_model(s3, "captured/model.tar.gz"))
        sm.create_endpoint_config(
            EndpointConfigName="captured", ProductionVariants=[variant("AllTraffic", "captured")],
            DataCaptureConfig={"EnableCapture": True, "InitialSamplingPercentage": 100,
                               "DestinationS3Uri": "s3://kiln-hosting-tests/capture",
                               "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
                               "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"],
                                                            "JsonContentTypes": ["application/json"]}})
        sm.create_endpoint(EndpointName="captured", EndpointConfigName="captured")
        desc = wait_endpoint(sm, "captured")
        assert desc["DataCaptureConfig"] == {"EnableCapture": True, "CaptureStatus": "Started",
                                             "CurrentSamplingPercentage": 100,
                                             "DestinationS3Uri": "s3://kiln-hosting-tests/capture", "KmsKeyId": ""}
        for i in range(30):
            body = json.dumps({"inputs": [[i / 10, -1.0, 0.25, 1.5]]})
            extra = {"InferenceId": f"req-{i}"} if i % 2 else {}
            out = rt.invoke_endpoint(EndpointName="captured", ContentType="application/json", Body=body, **extra)
            answers[body] = out["Body"].read().decode()
            sent.append(("application/json", body, extra.get("InferenceId")))
        for i in range(20):
            body = f"{i},1,2,3\n"
            out = rt.invoke_endpoint(EndpointName="captured", ContentType="text/csv", Body=body)
            answers[body] = out["Body"].read().decode()
            sent.append(("text/csv", body, None))
        body = json.dumps([[9, 9, 9, 9]])
        out = rt.invoke_endpoint(EndpointName="captured", ContentType="application/x-custom", Body=body)
        answers[body] = out["Body"].read().decode()
        sent.append(("application/x-custom", body, None))
    finally:
        assert server.terminate() in (0, -signal.SIGTERM)

    server = ServerProcess(tmp_path / "data", **env).wait_healthy()
    try:
        records = _records(server.client("s3"))
        assert len(records) == len(sent) == 51
        assert all(KEY.match(key) for key, _ in records), [k for k, _ in records][:3]
        seen = {}
        for _, record in records:
            assert record["eventVersion"] == "0"
            assert set(record["eventMetadata"]) >= {"eventId", "inferenceTime"}
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", record["eventMetadata"]["inferenceTime"])
            inp, out = record["captureData"]["endpointInput"], record["captureData"]["endpointOutput"]
            assert (inp["mode"], out["mode"]) == ("INPUT", "OUTPUT")
            data = inp["data"] if inp["encoding"] != "BASE64" else base64.b64decode(inp["data"]).decode()
            assert out["encoding"] == "JSON" and out["observedContentType"] == "application/json"
            assert out["data"] == answers[data]
            seen[data] = (inp["observedContentType"], inp["encoding"], record["eventMetadata"].get("inferenceId"))
        expected_encoding = {"application/json": "JSON", "text/csv": "CSV", "application/x-custom": "BASE64"}
        assert seen == {body: (ctype, expected_encoding[ctype], iid) for ctype, body, iid in sent}
        server.client("sagemaker").delete_endpoint(EndpointName="captured")
    finally:
        server.terminate()
