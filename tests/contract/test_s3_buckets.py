"""S3 bucket operations, boto3 against the live server."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

ACCOUNT = "123456789012"


def _name(tag: str = "b") -> str:
    return f"kiln-{tag}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def s3(aws_client: Callable[..., Any]) -> Any:
    return aws_client("s3")


def test_create_head_list_delete(s3: Any) -> None:
    name = _name()
    out = s3.create_bucket(Bucket=name)
    assert out["Location"] == f"/{name}"
    head = s3.head_bucket(Bucket=name)
    assert head["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == "us-east-1"
    listed = s3.list_buckets()
    assert name in [b["Name"] for b in listed["Buckets"]]
    assert listed["Owner"]["ID"]
    s3.delete_bucket(Bucket=name)
    with pytest.raises(ClientError) as err:
        s3.head_bucket(Bucket=name)
    assert err.value.response["Error"]["Code"] == "404"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_head_missing_bucket_is_bodiless_404(s3: Any) -> None:
    with pytest.raises(ClientError) as err:
        s3.head_bucket(Bucket=_name("missing"))
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert err.value.response["ResponseMetadata"]["HTTPHeaders"].get("content-length") == "0"


def test_head_bucket_expected_owner(s3: Any) -> None:
    name = _name()
    s3.create_bucket(Bucket=name)
    s3.head_bucket(Bucket=name, ExpectedBucketOwner=ACCOUNT)
    with pytest.raises(ClientError) as err:
        s3.head_bucket(Bucket=name, ExpectedBucketOwner="999999999999")
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(ClientError) as err:
        s3.list_objects_v2(Bucket=name, ExpectedBucketOwner="999999999999")
    assert err.value.response["Error"]["Code"] == "AccessDenied"
    s3.delete_bucket(Bucket=name)


def test_create_existing_bucket(s3: Any) -> None:
    name = _name()
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    with pytest.raises(ClientError) as err:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert err.value.response["Error"]["Code"] == "BucketAlreadyOwnedByYou"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert err.value.response["Error"]["BucketName"] == name
    s3.delete_bucket(Bucket=name)


def test_recreate_owned_bucket_in_us_east_1_succeeds(s3: Any) -> None:
    # S3's documented legacy behaviour in North Virginia: 200 OK, nothing changes.
    name = _name()
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="k", Body=b"v")
    assert s3.create_bucket(Bucket=name)["Location"] == f"/{name}"
    assert s3.get_object(Bucket=name, Key="k")["Body"].read() == b"v"
    s3.delete_object(Bucket=name, Key="k")
    s3.delete_bucket(Bucket=name)


@pytest.mark.parametrize("bad", ["ab", "UpperCase", "under_score", "-leading", "trailing-", "a..b",
                                 "192.168.1.1", "xn--punycode", "x" * 64, "ends-s3alias"])
def test_invalid_bucket_names(s3: Any, bad: str) -> None:
    with pytest.raises(ClientError) as err:
        s3.create_bucket(Bucket=bad)
    assert err.value.response["Error"]["Code"] in ("InvalidBucketName",)
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_delete_non_empty_bucket(s3: Any) -> None:
    name = _name()
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="k", Body=b"x")
    with pytest.raises(ClientError) as err:
        s3.delete_bucket(Bucket=name)
    assert err.value.response["Error"]["Code"] == "BucketNotEmpty"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    s3.delete_object(Bucket=name, Key="k")
    s3.delete_bucket(Bucket=name)


def test_delete_missing_bucket(s3: Any) -> None:
    with pytest.raises(ClientError) as err:
        s3.delete_bucket(Bucket=_name("missing"))
    assert err.value.response["Error"]["Code"] == "NoSuchBucket"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_get_bucket_location(s3: Any) -> None:
    name = _name()
    s3.create_bucket(Bucket=name)
    assert s3.get_bucket_location(Bucket=name).get("LocationConstraint") is None
    other = _name("eu")
    s3.create_bucket(Bucket=other, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert s3.get_bucket_location(Bucket=other)["LocationConstraint"] == "eu-west-1"
    s3.delete_bucket(Bucket=name)
    s3.delete_bucket(Bucket=other)


def test_list_buckets_pagination(s3: Any) -> None:
    tag = uuid.uuid4().hex[:6]
    names = sorted(f"kiln-page-{tag}-{i}" for i in range(5))
    for n in names:
        s3.create_bucket(Bucket=n)
    seen: list[str] = []
    for page in s3.get_paginator("list_buckets").paginate(Prefix=f"kiln-page-{tag}-",
                                                          PaginationConfig={"PageSize": 2}):
        seen += [b["Name"] for b in page["Buckets"]]
    assert seen == names
    for n in names:
        s3.delete_bucket(Bucket=n)


def test_operation_on_missing_bucket(s3: Any) -> None:
    missing = _name("missing")
    for call in (lambda: s3.put_object(Bucket=missing, Key="k", Body=b"x"),
                 lambda: s3.list_objects_v2(Bucket=missing),
                 lambda: s3.get_object(Bucket=missing, Key="k")):
        with pytest.raises(ClientError) as err:
            call()
        assert err.value.response["Error"]["Code"] == "NoSuchBucket"
        assert err.value.response["Error"]["BucketName"] == missing
