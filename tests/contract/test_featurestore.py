"""Feature groups (control plane) with boto3 against a live server: create -> Creating -> Created,
describe, list, update, metadata, delete; and the Glue table each offline store gets."""

from __future__ import annotations

import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

ACCOUNT = "123456789012"
BUCKET = "kiln-featurestore-contract"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/KilnExecutionRole"
FEATURES = [{"FeatureName": "customer_id", "FeatureType": "String"},
            {"FeatureName": "event_time", "FeatureType": "String"},
            {"FeatureName": "spend", "FeatureType": "Fractional"},
            {"FeatureName": "orders", "FeatureType": "Integral"}]


@pytest.fixture(scope="module")
def sm(aws_client: Any) -> Any:
    s3 = aws_client("s3")
    if BUCKET not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        s3.create_bucket(Bucket=BUCKET)
    return aws_client("sagemaker")


def create(sm: Any, name: str, wait: bool = True, **overrides: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "FeatureGroupName": name, "RecordIdentifierFeatureName": "customer_id", "EventTimeFeatureName": "event_time",
        "FeatureDefinitions": FEATURES, "OnlineStoreConfig": {"EnableOnlineStore": True},
        "OfflineStoreConfig": {"S3StorageConfig": {"S3Uri": f"s3://{BUCKET}/fs"}}, "RoleArn": ROLE, **overrides}
    sm.create_feature_group(**{k: v for k, v in args.items() if v is not None})
    return wait_status(sm, name) if wait else sm.describe_feature_group(FeatureGroupName=name)


def wait_status(sm: Any, name: str, leave: str = "Creating", timeout: float = 20) -> dict[str, Any]:
    deadline = time.time() + timeout
    while True:
        desc = sm.describe_feature_group(FeatureGroupName=name)
        if desc["FeatureGroupStatus"] != leave or time.time() > deadline:
            return desc
        time.sleep(0.1)


def test_create_progresses_creating_to_created_with_the_offline_layout(sm: Any, unique_name: str) -> None:
    arn = sm.create_feature_group(
        FeatureGroupName=unique_name, RecordIdentifierFeatureName="customer_id", EventTimeFeatureName="event_time",
        FeatureDefinitions=FEATURES, RoleArn=ROLE, Description="spend features",
        OnlineStoreConfig={"EnableOnlineStore": True, "TtlDuration": {"Unit": "Days", "Value": 30}},
        OfflineStoreConfig={"S3StorageConfig": {"S3Uri": f"s3://{BUCKET}/fs/"}},
        Tags=[{"Key": "team", "Value": "growth"}])["FeatureGroupArn"]
    assert arn == f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:feature-group/{unique_name}"
    # Provisioning takes milliseconds here: the first describe may already see Created (the Creating state
    # itself is pinned in tests/unit/test_featurestore_service.py).
    first = sm.describe_feature_group(FeatureGroupName=unique_name)
    assert first["FeatureGroupStatus"] in ("Creating", "Created")
    desc = wait_status(sm, unique_name)
    assert desc["FeatureGroupStatus"] == "Created"
    assert desc["OfflineStoreStatus"] == {"Status": "Active"}
    created = int(desc["CreationTime"].timestamp())
    offline = desc["OfflineStoreConfig"]
    assert offline["S3StorageConfig"]["ResolvedOutputS3Uri"] == (
        f"s3://{BUCKET}/fs/{ACCOUNT}/sagemaker/us-east-1/offline-store/{unique_name}-{created}/data")
    table = f"{unique_name.replace('-', '_')}_{created}"
    assert offline["DataCatalogConfig"] == {"TableName": table, "Catalog": "AwsDataCatalog",
                                            "Database": "sagemaker_featurestore"}
    assert desc["OnlineStoreConfig"] == {"EnableOnlineStore": True, "TtlDuration": {"Unit": "Days", "Value": 30}}
    assert desc["FeatureDefinitions"] == FEATURES and desc["Description"] == "spend features"
    assert desc["RecordIdentifierFeatureName"] == "customer_id" and desc["RoleArn"] == ROLE
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "growth"}]


def test_errors(sm: Any, unique_name: str) -> None:
    create(sm, unique_name)
    with pytest.raises(ClientError) as exc:
        create(sm, unique_name)
    assert exc.value.response["Error"]["Code"] == "ResourceInUse"
    with pytest.raises(ClientError) as exc:
        sm.describe_feature_group(FeatureGroupName="no-such-group")
    assert exc.value.response["Error"]["Code"] == "ResourceNotFound"
    bad = [
        {"RecordIdentifierFeatureName": "nope"},
        {"EventTimeFeatureName": "orders"},  # Integral event time
        {"FeatureDefinitions": [*FEATURES, {"FeatureName": "is_deleted", "FeatureType": "String"}]},
        {"FeatureDefinitions": [*FEATURES, FEATURES[2]]},
        {"OnlineStoreConfig": {"EnableOnlineStore": False}, "OfflineStoreConfig": None},
    ]
    for i, override in enumerate(bad):
        with pytest.raises(ClientError) as exc:
            create(sm, f"{unique_name}-bad{i}", **override)
        assert exc.value.response["Error"]["Code"] == "ValidationException", override


def test_missing_bucket_ends_create_failed(sm: Any, unique_name: str) -> None:
    desc = create(sm, unique_name, OfflineStoreConfig={"S3StorageConfig": {"S3Uri": "s3://kiln-no-such-bucket/x"}})
    assert desc["FeatureGroupStatus"] == "CreateFailed"
    assert "kiln-no-such-bucket" in desc["FailureReason"]


def test_list_filters_sorts_and_pages(sm: Any, unique_name: str) -> None:
    for suffix in ("a", "b", "c"):
        create(sm, f"{unique_name}-{suffix}", wait=False)
    for suffix in ("a", "b", "c"):
        wait_status(sm, f"{unique_name}-{suffix}")
    listed = sm.list_feature_groups(NameContains=unique_name, SortBy="Name", SortOrder="Ascending")
    names = [s["FeatureGroupName"] for s in listed["FeatureGroupSummaries"]]
    assert names == [f"{unique_name}-{s}" for s in "abc"]
    assert listed["FeatureGroupSummaries"][0]["FeatureGroupStatus"] == "Created"
    assert listed["FeatureGroupSummaries"][0]["OfflineStoreStatus"] == {"Status": "Active"}
    page = sm.list_feature_groups(NameContains=unique_name, MaxResults=2, SortBy="Name", SortOrder="Descending")
    assert [s["FeatureGroupName"] for s in page["FeatureGroupSummaries"]] == [f"{unique_name}-c", f"{unique_name}-b"]
    rest = sm.list_feature_groups(NameContains=unique_name, MaxResults=2, SortBy="Name", SortOrder="Descending",
                                  NextToken=page["NextToken"])
    assert [s["FeatureGroupName"] for s in rest["FeatureGroupSummaries"]] == [f"{unique_name}-a"]
    assert "NextToken" not in rest
    paginated = sm.get_paginator("list_feature_groups").paginate(NameContains=unique_name, MaxResults=1)
    assert sum(len(p["FeatureGroupSummaries"]) for p in paginated) == 3


def test_update_adds_features_and_metadata(sm: Any, aws_client: Any, unique_name: str) -> None:
    desc = create(sm, unique_name)
    sm.update_feature_group(FeatureGroupName=unique_name,
                            FeatureAdditions=[{"FeatureName": "segment", "FeatureType": "String"}],
                            OnlineStoreConfig={"TtlDuration": {"Unit": "Hours", "Value": 5}})
    after = sm.describe_feature_group(FeatureGroupName=desc["FeatureGroupArn"])  # by ARN too
    assert after["FeatureDefinitions"][-1] == {"FeatureName": "segment", "FeatureType": "String"}
    assert after["LastUpdateStatus"] == {"Status": "Successful"}
    assert after["OnlineStoreConfig"]["TtlDuration"] == {"Unit": "Hours", "Value": 5}
    table = aws_client("glue").get_table(DatabaseName="sagemaker_featurestore",
                                         Name=after["OfflineStoreConfig"]["DataCatalogConfig"]["TableName"])
    assert [c["Name"] for c in table["Table"]["StorageDescriptor"]["Columns"]][-4:] == [
        "segment", "write_time", "api_invocation_time", "is_deleted"]
    sm.update_feature_metadata(FeatureGroupName=unique_name, FeatureName="spend", Description="30-day spend",
                               ParameterAdditions=[{"Key": "unit", "Value": "USD"}, {"Key": "owner", "Value": "x"}])
    sm.update_feature_metadata(FeatureGroupName=unique_name, FeatureName="spend", ParameterRemovals=["owner"])
    meta = sm.describe_feature_metadata(FeatureGroupName=unique_name, FeatureName="spend")
    assert meta["Description"] == "30-day spend" and meta["FeatureType"] == "Fractional"
    assert meta["Parameters"] == [{"Key": "unit", "Value": "USD"}]
    with pytest.raises(ClientError) as exc:
        sm.describe_feature_metadata(FeatureGroupName=unique_name, FeatureName="nope")
    assert exc.value.response["Error"]["Code"] == "ResourceNotFound"


def test_delete_removes_group_and_glue_table(sm: Any, aws_client: Any, unique_name: str) -> None:
    desc = create(sm, unique_name)
    table = desc["OfflineStoreConfig"]["DataCatalogConfig"]["TableName"]
    glue = aws_client("glue")
    assert glue.get_table(DatabaseName="sagemaker_featurestore", Name=table)["Table"]["Name"] == table
    sm.delete_feature_group(FeatureGroupName=unique_name)
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            assert sm.describe_feature_group(FeatureGroupName=unique_name)["FeatureGroupStatus"] == "Deleting"
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "ResourceNotFound"
            break
        time.sleep(0.1)
    else:
        raise AssertionError("feature group was never deleted")
    with pytest.raises(ClientError) as exc:
        glue.get_table(DatabaseName="sagemaker_featurestore", Name=table)
    assert exc.value.response["Error"]["Code"] == "EntityNotFoundException"
    create(sm, unique_name)  # the name is free again
