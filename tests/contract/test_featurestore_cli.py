"""`kiln features` against a live server: groups with their online/offline record counts and last ingest."""

from __future__ import annotations

from typing import Any

from test_featurestore import BUCKET, create
from typer.testing import CliRunner

from kiln.cli import app


def test_kiln_features_lists_groups_with_counts(kiln_server: Any, aws_client: Any, unique_name: str) -> None:
    s3 = aws_client("s3")
    if BUCKET not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        s3.create_bucket(Bucket=BUCKET)
    create(aws_client("sagemaker"), unique_name)
    rt = aws_client("sagemaker-featurestore-runtime")
    for i in range(3):
        rt.put_record(FeatureGroupName=unique_name, Record=[
            {"FeatureName": "customer_id", "ValueAsString": f"c{i % 2}"},
            {"FeatureName": "event_time", "ValueAsString": f"2026-06-0{i + 1}T00:00:00Z"}])
    result = CliRunner().invoke(app, ["features", "--endpoint", kiln_server.url], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    line = next(row for row in result.output.splitlines() if unique_name in row)
    cells = [c.strip() for c in line.split("│") if c.strip()]
    assert cells[:4] == [unique_name, "Created", "2", "3"]  # 2 records online, 3 writes offline
    assert cells[-1].endswith("ago")
