"""sagemaker-featurestore-runtime with boto3 against a live server: records in the online store (latest
event time wins, TTL, soft/hard delete, type checks) and in the offline store (every accepted write)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError
from test_featurestore import BUCKET, create

Rec = Callable[..., list[dict[str, str]]]


def rec(cid: str, when: str, spend: float | str = 1.0, orders: int | str = 1) -> list[dict[str, str]]:
    return [{"FeatureName": "customer_id", "ValueAsString": cid},
            {"FeatureName": "event_time", "ValueAsString": when}, {"FeatureName": "spend", "ValueAsString": str(spend)},
            {"FeatureName": "orders", "ValueAsString": str(orders)}]


@pytest.fixture(scope="module")
def rt(aws_client: Any) -> Any:
    return aws_client("sagemaker-featurestore-runtime")


@pytest.fixture
def group(aws_client: Any, unique_name: str) -> str:
    s3 = aws_client("s3")
    if BUCKET not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        s3.create_bucket(Bucket=BUCKET)
    assert create(aws_client("sagemaker"), unique_name)["FeatureGroupStatus"] == "Created"
    return unique_name


def offline_rows(kiln_server: Any, name: str) -> list[dict[str, Any]]:
    """Every row of the group's offline store (flushed to Parquet first), via Athena."""
    athena = kiln_server.client("athena")
    qid = athena.start_query_execution(
        QueryString=f'SELECT customer_id, event_time, spend, orders, is_deleted FROM "{name}" '
                    f"ORDER BY customer_id, event_time, api_invocation_time",
        QueryExecutionContext={"Database": "sagemaker_featurestore"},
        ResultConfiguration={"OutputLocation": f"s3://{BUCKET}/athena/"})["QueryExecutionId"]
    while (state := athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]["Status"])["State"] in (
            "QUEUED", "RUNNING"):
        time.sleep(0.05)
    assert state["State"] == "SUCCEEDED", state
    rows = athena.get_query_results(QueryExecutionId=qid)["ResultSet"]["Rows"]
    header = [d["VarCharValue"] for d in rows[0]["Data"]]
    return [dict(zip(header, [d.get("VarCharValue") for d in r["Data"]], strict=True)) for r in rows[1:]]


def values(record: list[dict[str, str]]) -> dict[str, str]:
    return {f["FeatureName"]: f["ValueAsString"] for f in record}


def test_put_get_latest_event_time_wins_and_projection(rt: Any, kiln_server: Any, group: str) -> None:
    rt.put_record(FeatureGroupName=group, Record=rec("c1", "2026-06-06T10:00:00Z", 420.5, 5))
    rt.put_record(FeatureGroupName=group, Record=rec("c1", "2026-06-01T10:00:00Z", 1.0, 1))  # older: online keeps 420.5
    rt.put_record(FeatureGroupName=group, Record=rec("c1", "2026-06-06T10:00:00.000Z", 430.0, 6))  # tie: later write
    got = rt.get_record(FeatureGroupName=group, RecordIdentifierValueAsString="c1")
    assert values(got["Record"]) == {"customer_id": "c1", "event_time": "2026-06-06T10:00:00.000Z", "spend": "430.0",
                                     "orders": "6"}
    proj = rt.get_record(FeatureGroupName=group, RecordIdentifierValueAsString="c1", FeatureNames=["spend", "orders"])
    assert proj["Record"] == [{"FeatureName": "spend", "ValueAsString": "430.0"},
                              {"FeatureName": "orders", "ValueAsString": "6"}]
    assert "Record" not in rt.get_record(FeatureGroupName=group, RecordIdentifierValueAsString="nobody")
    with pytest.raises(ClientError) as exc:
        rt.get_record(FeatureGroupName=group, RecordIdentifierValueAsString="c1", FeatureNames=["nope"])
    assert exc.value.response["Error"]["Code"] == "ValidationError"
    # every accepted write, superseded ones too, is in the offline store
    rows = offline_rows(kiln_server, group)
    assert [(r["event_time"], r["spend"]) for r in rows] == [
        ("2026-06-01T10:00:00Z", "1.0"), ("2026-06-06T10:00:00.000Z", "430.0"), ("2026-06-06T10:00:00Z", "420.5")]


def test_invalid_records_are_rejected_and_nothing_is_written(rt: Any, kiln_server: Any, group: str) -> None:
    bad = [rec("c2", "2026-06-06T10:00:00Z", "abc"), rec("c2", "2026-06-06T10:00:00Z", 1.0, "1.5"),
           rec("c2", "06/06/2026"), [*rec("c2", "2026-06-06T10:00:00Z"), {"FeatureName": "zz", "ValueAsString": "1"}],
           rec("c2", "2026-06-06T10:00:00Z")[1:]]
    for record in bad:
        with pytest.raises(ClientError) as exc:
            rt.put_record(FeatureGroupName=group, Record=record)
        assert exc.value.response["Error"]["Code"] == "ValidationError", record
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "Record" not in rt.get_record(FeatureGroupName=group, RecordIdentifierValueAsString="c2")
    assert offline_rows(kiln_server, group) == []
    with pytest.raises(ClientError) as exc:
        rt.put_record(FeatureGroupName="no-such-group", Record=rec("c2", "2026-06-06T10:00:00Z"))
    assert exc.value.response["Error"]["Code"] == "ResourceNotFound"


def test_ttl_and_expires_at(rt: Any, aws_client: Any, unique_name: str) -> None:
    create(aws_client("sagemaker"), unique_name,
           OnlineStoreConfig={"EnableOnlineStore": True, "TtlDuration": {"Unit": "Days", "Value": 1}})
    now = time.time()
    fresh = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 60))
    stale = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 2 * 86400))
    rt.put_record(FeatureGroupName=unique_name, Record=rec("fresh", fresh))
    rt.put_record(FeatureGroupName=unique_name, Record=rec("stale", stale))
    rt.put_record(FeatureGroupName=unique_name, Record=rec("own-ttl", stale), TtlDuration={"Unit": "Weeks", "Value": 1})
    got = rt.get_record(FeatureGroupName=unique_name, RecordIdentifierValueAsString="fresh",
                        ExpirationTimeResponse="Enabled")
    expected = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now - 60 + 86400))
    assert got["ExpiresAt"].startswith(expected) and got["ExpiresAt"].endswith("Z")
    assert "ExpiresAt" not in rt.get_record(FeatureGroupName=unique_name, RecordIdentifierValueAsString="fresh")
    assert "Record" not in rt.get_record(FeatureGroupName=unique_name, RecordIdentifierValueAsString="stale")
    assert "Record" in rt.get_record(FeatureGroupName=unique_name, RecordIdentifierValueAsString="own-ttl")


def test_batch_get_record_across_groups_with_errors(rt: Any, aws_client: Any, group: str, unique_name: str) -> None:
    other = f"{unique_name}-2"
    create(aws_client("sagemaker"), other)
    rt.put_record(FeatureGroupName=group, Record=rec("a", "2026-06-06T10:00:00Z", 1.5))
    rt.put_record(FeatureGroupName=other, Record=rec("a", "2026-06-06T10:00:00Z", 2.5))
    out = rt.batch_get_record(Identifiers=[
        {"FeatureGroupName": group, "RecordIdentifiersValueAsString": ["a", "missing"], "FeatureNames": ["spend"]},
        {"FeatureGroupName": other, "RecordIdentifiersValueAsString": ["a"]},
        {"FeatureGroupName": "no-such-group", "RecordIdentifiersValueAsString": ["a"]},
    ])
    assert out["Records"][0] == {"FeatureGroupName": group, "RecordIdentifierValueAsString": "a",
                                 "Record": [{"FeatureName": "spend", "ValueAsString": "1.5"}]}
    assert values(out["Records"][1]["Record"])["spend"] == "2.5"
    assert len(out["Records"]) == 2
    assert out["Errors"] == [{"FeatureGroupName": "no-such-group", "RecordIdentifierValueAsString": "a",
                              "ErrorCode": "ResourceNotFound", "ErrorMessage": out["Errors"][0]["ErrorMessage"]}]
    assert out["UnprocessedIdentifiers"] == []


def test_soft_and_hard_delete(rt: Any, kiln_server: Any, group: str) -> None:
    rt.put_record(FeatureGroupName=group, Record=rec("s", "2026-06-06T10:00:00Z"))
    rt.put_record(FeatureGroupName=group, Record=rec("h", "2026-06-06T10:00:00Z"))
    # soft delete with an older event time: no delete online, marker offline anyway
    rt.delete_record(FeatureGroupName=group, RecordIdentifierValueAsString="s", EventTime="2026-06-05T10:00:00Z")
    assert "Record" in rt.get_record(FeatureGroupName=group, RecordIdentifierValueAsString="s")
    rt.delete_record(FeatureGroupName=group, RecordIdentifierValueAsString="s", EventTime="2026-06-07T10:00:00Z")
    assert "Record" not in rt.get_record(FeatureGroupName=group, RecordIdentifierValueAsString="s")
    rt.put_record(FeatureGroupName=group, Record=rec("s", "2026-06-06T12:00:00Z"))  # older than the delete
    assert "Record" not in rt.get_record(FeatureGroupName=group, RecordIdentifierValueAsString="s")
    listed = rt.list_records(FeatureGroupName=group, IncludeSoftDeletedRecords=True)["RecordIdentifiers"]
    assert sorted(listed) == ["h", "s"]
    assert rt.list_records(FeatureGroupName=group)["RecordIdentifiers"] == ["h"]
    with pytest.raises(ClientError) as exc:  # hard delete not later than the record: refused, no marker
        rt.delete_record(FeatureGroupName=group, RecordIdentifierValueAsString="h", EventTime="2026-06-06T10:00:00Z",
                         DeletionMode="HardDelete")
    assert exc.value.response["Error"]["Code"] == "ValidationError"
    rt.delete_record(FeatureGroupName=group, RecordIdentifierValueAsString="h", EventTime="2026-06-08T10:00:00Z",
                     DeletionMode="HardDelete")
    rt.put_record(FeatureGroupName=group, Record=rec("h", "2026-06-01T10:00:00Z", 9.0))  # hard delete forgets
    assert values(rt.get_record(FeatureGroupName=group, RecordIdentifierValueAsString="h")["Record"])["spend"] == "9.0"
    markers = [(r["customer_id"], r["event_time"], r["spend"]) for r in offline_rows(kiln_server, group)
               if r["is_deleted"] == "true"]
    assert markers == [("h", "2026-06-08T10:00:00Z", None), ("s", "2026-06-05T10:00:00Z", None),
                       ("s", "2026-06-07T10:00:00Z", None)]


def test_batch_write_and_target_stores(rt: Any, kiln_server: Any, aws_client: Any, group: str,
                                       unique_name: str) -> None:
    out = rt.batch_write_record(Entries=[
        {"FeatureGroupName": group, "Record": rec("b1", "2026-06-06T10:00:00Z")},
        {"FeatureGroupName": group, "Record": rec("b2", "2026-06-06T10:00:00Z", "bad")},
        {"FeatureGroupName": group, "Record": rec("b3", "2026-06-06T10:00:00Z"), "TargetStores": ["OfflineStore"]},
    ])
    assert [(e["Entry"]["Record"][0]["ValueAsString"], e["ErrorCode"]) for e in out["Errors"]] == [("b2",
                                                                                                  "ValidationError")]
    assert "Record" in rt.get_record(FeatureGroupName=group, RecordIdentifierValueAsString="b1")
    assert "Record" not in rt.get_record(FeatureGroupName=group, RecordIdentifierValueAsString="b3")
    assert sorted(r["customer_id"] for r in offline_rows(kiln_server, group)) == ["b1", "b3"]
    offline_only = f"{unique_name}-off"
    create(aws_client("sagemaker"), offline_only, OnlineStoreConfig=None)
    rt.put_record(FeatureGroupName=offline_only, Record=rec("o", "2026-06-06T10:00:00Z"))
    with pytest.raises(ClientError) as exc:
        rt.get_record(FeatureGroupName=offline_only, RecordIdentifierValueAsString="o")
    assert exc.value.response["Error"]["Code"] == "ValidationError"
    with pytest.raises(ClientError):
        rt.put_record(FeatureGroupName=offline_only, Record=rec("o", "2026-06-06T10:00:00Z"),
                      TargetStores=["OnlineStore"])
    assert [r["customer_id"] for r in offline_rows(kiln_server, offline_only)] == ["o"]
