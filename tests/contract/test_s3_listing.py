"""ListObjects (v1) and ListObjectsV2: prefixes, delimiters, pagination, URL encoding."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import unquote_plus

import pytest
from botocore.exceptions import ClientError

KEYS = sorted([
    "a.txt", "b/1.txt", "b/2.txt", "b/c/3.txt", "b/c/4.txt", "b/d/5.txt", "b0", "c/6.txt",
    "d e/7 8.txt", "plus+key", "z/9.txt", "日本/語.txt",
])


@pytest.fixture(scope="module")
def s3(aws_client: Callable[..., Any]) -> Any:
    return aws_client("s3")


@pytest.fixture(scope="module")
def bucket(s3: Any) -> Iterator[str]:
    name = f"kiln-list-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=name)
    for key in KEYS:
        s3.put_object(Bucket=name, Key=key, Body=key.encode())
    yield name
    s3.delete_objects(Bucket=name, Delete={"Objects": [{"Key": k} for k in KEYS]})
    s3.delete_bucket(Bucket=name)


def _utf8_sorted(keys: list[str]) -> list[str]:
    return sorted(keys, key=lambda k: k.encode())


def test_list_v2_all(s3: Any, bucket: str) -> None:
    out = s3.list_objects_v2(Bucket=bucket)
    assert [o["Key"] for o in out["Contents"]] == _utf8_sorted(KEYS)
    assert out["KeyCount"] == len(KEYS)
    assert out["IsTruncated"] is False
    first = out["Contents"][0]
    assert first["Size"] == len(first["Key"].encode())
    assert first["ETag"].startswith('"')
    assert first["StorageClass"] == "STANDARD"


def test_list_v2_prefix_delimiter(s3: Any, bucket: str) -> None:
    out = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in out["CommonPrefixes"]] == ["b/", "c/", "d e/", "z/", "日本/"]
    assert [o["Key"] for o in out["Contents"]] == ["a.txt", "b0", "plus+key"]
    assert out["KeyCount"] == 8
    sub = s3.list_objects_v2(Bucket=bucket, Prefix="b/", Delimiter="/")
    assert [o["Key"] for o in sub["Contents"]] == ["b/1.txt", "b/2.txt"]
    assert [p["Prefix"] for p in sub["CommonPrefixes"]] == ["b/c/", "b/d/"]
    assert sub["Prefix"] == "b/"
    assert sub["Delimiter"] == "/"
    none = s3.list_objects_v2(Bucket=bucket, Prefix="nothing/")
    assert "Contents" not in none
    assert none["KeyCount"] == 0


def test_list_v2_paginator_with_delimiter(s3: Any, bucket: str) -> None:
    keys: list[str] = []
    prefixes: list[str] = []
    pages = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Delimiter="/",
                                                             PaginationConfig={"PageSize": 2}):
        pages += 1
        assert page["KeyCount"] <= 2
        keys += [o["Key"] for o in page.get("Contents", [])]
        prefixes += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
    assert pages == 4
    assert keys == ["a.txt", "b0", "plus+key"]
    assert prefixes == ["b/", "c/", "d e/", "z/", "日本/"]


def test_list_v2_paginator_flat(s3: Any, bucket: str) -> None:
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, PaginationConfig={"PageSize": 5}):
        keys += [o["Key"] for o in page["Contents"]]
    assert keys == _utf8_sorted(KEYS)


def test_list_v2_max_keys_and_tokens(s3: Any, bucket: str) -> None:
    out = s3.list_objects_v2(Bucket=bucket, MaxKeys=3)
    assert out["IsTruncated"] is True
    assert out["KeyCount"] == 3
    assert out["MaxKeys"] == 3
    nxt = s3.list_objects_v2(Bucket=bucket, MaxKeys=3, ContinuationToken=out["NextContinuationToken"])
    assert nxt["ContinuationToken"] == out["NextContinuationToken"]
    assert [o["Key"] for o in nxt["Contents"]] == _utf8_sorted(KEYS)[3:6]
    with pytest.raises(ClientError) as err:
        s3.list_objects_v2(Bucket=bucket, ContinuationToken="not-a-token")
    assert err.value.response["Error"]["Code"] == "InvalidArgument"
    zero = s3.list_objects_v2(Bucket=bucket, MaxKeys=0)
    assert zero["KeyCount"] == 0
    assert zero["IsTruncated"] is False


def test_list_v2_start_after(s3: Any, bucket: str) -> None:
    out = s3.list_objects_v2(Bucket=bucket, StartAfter="b/c/4.txt")
    assert [o["Key"] for o in out["Contents"]] == _utf8_sorted(KEYS)[5:]
    assert out["StartAfter"] == "b/c/4.txt"
    rolled = s3.list_objects_v2(Bucket=bucket, StartAfter="b/", Delimiter="/")
    assert [p["Prefix"] for p in rolled["CommonPrefixes"]] == ["c/", "d e/", "z/", "日本/"]


def test_list_v2_encoding_type_url_raw(s3: Any, bucket: str) -> None:
    """Asked for explicitly, boto3 leaves EncodingType=url values encoded: check the wire form."""
    out = s3.list_objects_v2(Bucket=bucket, Prefix="d e/", EncodingType="url")
    assert [o["Key"] for o in out["Contents"]] == ["d%20e/7%208.txt"]
    assert out["Prefix"] == "d%20e/"
    assert out["EncodingType"] == "url"
    plus = s3.list_objects(Bucket=bucket, Prefix="plus", EncodingType="url")
    assert [unquote_plus(o["Key"]) for o in plus["Contents"]] == ["plus+key"]


def test_list_v1_marker_and_paginator(s3: Any, bucket: str) -> None:
    out = s3.list_objects(Bucket=bucket, MaxKeys=4)
    assert out["IsTruncated"] is True
    assert [o["Key"] for o in out["Contents"]] == _utf8_sorted(KEYS)[:4]
    assert "NextMarker" not in out  # S3 sends NextMarker only with a delimiter
    rest = s3.list_objects(Bucket=bucket, Marker=out["Contents"][-1]["Key"])
    assert [o["Key"] for o in rest["Contents"]] == _utf8_sorted(KEYS)[4:]
    keys: list[str] = []
    for page in s3.get_paginator("list_objects").paginate(Bucket=bucket, PaginationConfig={"PageSize": 5}):
        keys += [o["Key"] for o in page["Contents"]]
    assert keys == _utf8_sorted(KEYS)
    delim = s3.list_objects(Bucket=bucket, Delimiter="/", MaxKeys=2)
    assert delim["NextMarker"] == "b/"
    after = s3.list_objects(Bucket=bucket, Delimiter="/", Marker=delim["NextMarker"])
    assert after["CommonPrefixes"][0]["Prefix"] == "c/"
    prefixes: list[str] = []
    for page in s3.get_paginator("list_objects").paginate(Bucket=bucket, Delimiter="/",
                                                          PaginationConfig={"PageSize": 2}):
        prefixes += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
    assert prefixes == ["b/", "c/", "d e/", "z/", "日本/"]


def test_list_objects_v1_owner(s3: Any, bucket: str) -> None:
    out = s3.list_objects(Bucket=bucket, Prefix="a")
    assert out["Contents"][0]["Owner"]["ID"]
    v2 = s3.list_objects_v2(Bucket=bucket, Prefix="a", FetchOwner=True)
    assert v2["Contents"][0]["Owner"]["ID"] == out["Contents"][0]["Owner"]["ID"]
