"""S3 object operations, boto3 against the live server."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError


@pytest.fixture
def s3(aws_client: Callable[..., Any]) -> Any:
    return aws_client("s3")


@pytest.fixture
def bucket(s3: Any) -> Iterator[str]:
    name = f"kiln-obj-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=name)
    yield name
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        for obj in page.get("Contents", []):
            s3.delete_object(Bucket=name, Key=obj["Key"])
    s3.delete_bucket(Bucket=name)


def _code(err: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    r = err.value.response
    return r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"]


def test_put_get_head_roundtrip(s3: Any, bucket: str) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    put = s3.put_object(Bucket=bucket, Key="dir/blob.bin", Body=data, ContentType="application/x-test",
                        Metadata={"Owner": "alice", "run-id": "42"}, CacheControl="no-cache",
                        ContentDisposition="attachment")
    md5 = hashlib.md5(data).hexdigest()
    assert put["ETag"] == f'"{md5}"'
    got = s3.get_object(Bucket=bucket, Key="dir/blob.bin")
    assert got["Body"].read() == data
    assert got["ETag"] == f'"{md5}"'
    assert got["ContentType"] == "application/x-test"
    assert got["ContentLength"] == len(data)
    assert got["Metadata"] == {"owner": "alice", "run-id": "42"}
    assert got["CacheControl"] == "no-cache"
    assert got["ContentDisposition"] == "attachment"
    assert abs(got["LastModified"] - datetime.now(UTC)) < timedelta(minutes=1)
    head = s3.head_object(Bucket=bucket, Key="dir/blob.bin")
    assert head["ContentLength"] == len(data)
    assert head["ETag"] == f'"{md5}"'
    assert head["Metadata"] == {"owner": "alice", "run-id": "42"}
    assert head["AcceptRanges"] == "bytes"


def test_default_content_type_and_empty_object(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    got = s3.get_object(Bucket=bucket, Key="empty")
    assert got["Body"].read() == b""
    assert got["ContentLength"] == 0
    assert got["ContentType"] == "binary/octet-stream"
    assert got["ETag"] == f'"{hashlib.md5(b"").hexdigest()}"'


def test_overwrite_replaces_object(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"first", Metadata={"v": "1"})
    s3.put_object(Bucket=bucket, Key="k", Body=b"second")
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["Body"].read() == b"second"
    assert got["Metadata"] == {}


@pytest.mark.parametrize(("header", "expected", "content_range"), [
    ("bytes=0-9", slice(0, 10), "bytes 0-9/100"),
    ("bytes=90-", slice(90, 100), "bytes 90-99/100"),
    ("bytes=-5", slice(95, 100), "bytes 95-99/100"),
    ("bytes=95-200", slice(95, 100), "bytes 95-99/100"),
    ("bytes=-500", slice(0, 100), "bytes 0-99/100"),
])
def test_get_range(s3: Any, bucket: str, header: str, expected: slice, content_range: str) -> None:
    data = bytes(range(100))
    s3.put_object(Bucket=bucket, Key="r", Body=data)
    got = s3.get_object(Bucket=bucket, Key="r", Range=header)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert got["ContentRange"] == content_range
    body = got["Body"].read()
    assert body == data[expected]
    assert got["ContentLength"] == len(body)


def test_get_invalid_range(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="r", Body=b"0123456789")
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket=bucket, Key="r", Range="bytes=10-20")
    assert _code(err) == ("InvalidRange", 416)
    assert err.value.response["Error"]["ActualObjectSize"] == "10"
    # an unparseable range is ignored, as S3 does
    got = s3.get_object(Bucket=bucket, Key="r", Range="bytes=abc")
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert got["Body"].read() == b"0123456789"


def test_get_missing_key(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket=bucket, Key="nope/missing.txt")
    assert _code(err) == ("NoSuchKey", 404)
    assert err.value.response["Error"]["Key"] == "nope/missing.txt"


def test_head_missing_key_is_bodiless_404(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as err:
        s3.head_object(Bucket=bucket, Key="missing")
    assert _code(err) == ("404", 404)


def test_conditional_get(s3: Any, bucket: str) -> None:
    etag = s3.put_object(Bucket=bucket, Key="c", Body=b"abc")["ETag"]
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket=bucket, Key="c", IfNoneMatch=etag)
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket=bucket, Key="c", IfMatch='"0000"')
    assert _code(err) == ("PreconditionFailed", 412)
    assert s3.get_object(Bucket=bucket, Key="c", IfMatch=etag)["Body"].read() == b"abc"


def test_delete_object_and_missing_key(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="d", Body=b"x")
    assert s3.delete_object(Bucket=bucket, Key="d")["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert s3.delete_object(Bucket=bucket, Key="d")["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="d")


def test_delete_objects(s3: Any, bucket: str) -> None:
    for i in range(5):
        s3.put_object(Bucket=bucket, Key=f"m/{i}", Body=b"x")
    out = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": f"m/{i}"} for i in range(3)]
                                                   + [{"Key": "m/never-existed"}]})
    assert sorted(d["Key"] for d in out["Deleted"]) == ["m/0", "m/1", "m/2", "m/never-existed"]
    assert "Errors" not in out
    quiet = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "m/3"}], "Quiet": True})
    assert "Deleted" not in quiet
    left = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert left == ["m/4"]


def test_copy_object_copies_metadata(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="src", Body=b"payload", ContentType="text/x-src", Metadata={"a": "1"})
    out = s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    assert out["CopyObjectResult"]["ETag"] == f'"{hashlib.md5(b"payload").hexdigest()}"'
    got = s3.get_object(Bucket=bucket, Key="dst")
    assert got["Body"].read() == b"payload"
    assert got["ContentType"] == "text/x-src"
    assert got["Metadata"] == {"a": "1"}
    # the copy is independent of its source
    s3.delete_object(Bucket=bucket, Key="src")
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == b"payload"


def test_copy_object_replace_metadata_and_across_buckets(s3: Any, bucket: str) -> None:
    other = f"kiln-obj-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=other)
    s3.put_object(Bucket=bucket, Key="src key+?&.txt", Body=b"abc", Metadata={"a": "1"})
    s3.copy_object(Bucket=other, Key="copy", CopySource={"Bucket": bucket, "Key": "src key+?&.txt"},
                   MetadataDirective="REPLACE", Metadata={"b": "2"}, ContentType="text/plain")
    got = s3.get_object(Bucket=other, Key="copy")
    assert (got["Body"].read(), got["Metadata"], got["ContentType"]) == (b"abc", {"b": "2"}, "text/plain")
    s3.delete_object(Bucket=other, Key="copy")
    s3.delete_bucket(Bucket=other)


def test_copy_object_to_itself(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="self", Body=b"same", Metadata={"v": "1"})
    with pytest.raises(ClientError) as err:
        s3.copy_object(Bucket=bucket, Key="self", CopySource={"Bucket": bucket, "Key": "self"})
    assert _code(err) == ("InvalidRequest", 400)
    s3.copy_object(Bucket=bucket, Key="self", CopySource={"Bucket": bucket, "Key": "self"},
                   MetadataDirective="REPLACE", Metadata={"v": "2"})
    got = s3.get_object(Bucket=bucket, Key="self")
    assert (got["Body"].read(), got["Metadata"]) == (b"same", {"v": "2"})


def test_copy_missing_source(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as err:
        s3.copy_object(Bucket=bucket, Key="x", CopySource={"Bucket": bucket, "Key": "absent"})
    assert _code(err) == ("NoSuchKey", 404)


@pytest.mark.parametrize("key", ["unicode/日本語 ü.txt", "spaces and+plus", "q?x=1&y=2#frag", "pct%20%2F",
                                 "a//double//slash", "trailing/", "~tilde!*'()", "  lead"])
def test_special_keys_roundtrip(s3: Any, bucket: str, key: str) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == key.encode()
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == [key]
    assert [o["Key"] for o in s3.list_objects(Bucket=bucket)["Contents"]] == [key]


def test_key_too_long(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as err:
        s3.put_object(Bucket=bucket, Key="k" * 1025, Body=b"x")
    assert _code(err) == ("KeyTooLongError", 400)
    s3.put_object(Bucket=bucket, Key="é" * 512, Body=b"x")  # 1024 bytes exactly
    with pytest.raises(ClientError) as err:
        s3.put_object(Bucket=bucket, Key="é" * 512 + "x", Body=b"x")
    assert _code(err) == ("KeyTooLongError", 400)


def test_streaming_get_of_large_object(s3: Any, bucket: str) -> None:
    chunk = os.urandom(1024 * 1024)
    data = chunk * 24
    s3.put_object(Bucket=bucket, Key="big", Body=data)
    body = s3.get_object(Bucket=bucket, Key="big")["Body"]
    md5 = hashlib.md5()
    for part in body.iter_chunks(1024 * 1024):
        md5.update(part)
    assert md5.hexdigest() == hashlib.md5(data).hexdigest()


def test_read_while_overwritten_keeps_old_bytes(s3: Any, bucket: str) -> None:
    old = os.urandom(4 * 1024 * 1024)
    s3.put_object(Bucket=bucket, Key="swap", Body=old)
    body = s3.get_object(Bucket=bucket, Key="swap")["Body"]
    first = body.read(1024)
    s3.put_object(Bucket=bucket, Key="swap", Body=b"new")
    s3.delete_object(Bucket=bucket, Key="swap")
    assert first + body.read() == old
