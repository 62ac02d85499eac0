"""A real `kiln server` SIGKILLed while a transform job runs, then started again: the job ends Failed
with a reason that says so, its model server does not outlive the crash, and new jobs run."""

from __future__ import annotations

import time
from pathlib import Path

import test_transform_helpers as h

from server_proc import ServerProcess, job_pids


def _transform_pids(data: Path) -> set[int]:
    return job_pids(Path(f"{data.resolve()}#transform"))


def test_server_killed_mid_job_fails_it_honestly(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = ServerProcess(data).wait_healthy()
    try:
        sm, s3 = server.client("sagemaker"), server.client("s3")
        h.setup_model(s3, sm, "linear")
        s3.put_object(Bucket=h.BUCKET, Key="slow/in.csv", Body=h.csv_bytes(h.rows(200, 1)))
        sm.create_transform_job(**h.job_request("slow", "linear", f"s3://{h.BUCKET}/slow/in.csv",
                                                f"s3://{h.BUCKET}/slow/out", BatchStrategy="SingleRecord",
                                                Environment={"SLEEP_S": "0.5"}))
        deadline = time.time() + 120
        while "TransformStartTime" not in sm.describe_transform_job(TransformJobName="slow"):
            assert time.time() < deadline, "the job never started"
            time.sleep(0.2)
        old = _transform_pids(data)
        assert old, "the job's model server should be running"
    finally:
        server.kill()
    server = ServerProcess(data, port=server.port).wait_healthy()
    try:
        sm, s3 = server.client("sagemaker"), server.client("s3")
        desc = h.wait_job(sm, "slow", timeout=60)
        assert desc["TransformJobStatus"] == "Failed"
        assert "Kiln server stopped while this transform job was running" in desc["FailureReason"]
        assert "TransformEndTime" in desc
        assert not (_transform_pids(data) & old), "the crashed job's model server survived the restart"
        assert "Contents" not in s3.list_objects_v2(Bucket=h.BUCKET, Prefix="slow/out/")  # no partial object

        s3.put_object(Bucket=h.BUCKET, Key="after/in.csv", Body=h.csv_bytes(h.rows(4, 2)))
        sm.create_transform_job(**h.job_request("after", "linear", f"s3://{h.BUCKET}/after/in.csv",
                                                f"s3://{h.BUCKET}/after/out"))
        assert h.wait_job(sm, "after")["TransformJobStatus"] == "Completed"
    finally:
        server.terminate()
