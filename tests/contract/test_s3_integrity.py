"""Integrity and safety of the S3 data path: Content-MD5, flexible checksums (headers and aws-chunked
trailers), x-amz-content-sha256, keys that look like paths, and virtual-host addressing."""

from __future__ import annotations

import base64
import hashlib
import os
import uuid
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from kiln.services.s3 import checksums


@pytest.fixture
def s3(aws_client: Callable[..., Any]) -> Any:
    return aws_client("s3")


@pytest.fixture
def bucket(s3: Any) -> Iterator[str]:
    name = f"kiln-int-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=name)
    yield name
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        for obj in page.get("Contents", []):
            s3.delete_object(Bucket=name, Key=obj["Key"])
    s3.delete_bucket(Bucket=name)


def _code(err: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    r = err.value.response
    return r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"]


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _crc32(data: bytes) -> str:
    return _b64(zlib.crc32(data).to_bytes(4, "big"))


def test_default_crc32_is_verified_stored_and_returned(kiln_server: Any, s3: Any, bucket: str) -> None:
    data = os.urandom(100_000)
    put = s3.put_object(Bucket=bucket, Key="c", Body=data)  # boto3 sends CRC32 by default
    assert put["ChecksumCRC32"] == _crc32(data)
    got = s3.get_object(Bucket=bucket, Key="c", ChecksumMode="ENABLED")
    assert got["ChecksumCRC32"] == _crc32(data)
    assert got["ChecksumType"] == "FULL_OBJECT"
    assert got["Body"].read() == data  # botocore checks the CRC32 as it reads
    plain = httpx.get(f"{kiln_server.url}/{bucket}/c")  # without x-amz-checksum-mode: ENABLED
    assert plain.content == data
    assert "x-amz-checksum-crc32" not in plain.headers
    ranged = s3.get_object(Bucket=bucket, Key="c", Range="bytes=0-9", ChecksumMode="ENABLED")
    assert "ChecksumCRC32" not in ranged  # a part of the object has no full-object checksum
    assert ranged["Body"].read() == data[:10]


@pytest.mark.parametrize(("algorithm", "digest"), [
    ("SHA256", lambda d: hashlib.sha256(d).digest()),
    ("SHA1", lambda d: hashlib.sha1(d).digest()),
    ("CRC32", lambda d: zlib.crc32(d).to_bytes(4, "big")),
])
def test_checksum_algorithms(s3: Any, bucket: str, algorithm: str, digest: Callable[[bytes], bytes]) -> None:
    data = b"checksum me " * 1000
    put = s3.put_object(Bucket=bucket, Key=algorithm, Body=data, ChecksumAlgorithm=algorithm)
    assert put[f"Checksum{algorithm}"] == _b64(digest(data))
    head = s3.head_object(Bucket=bucket, Key=algorithm, ChecksumMode="ENABLED")
    assert head[f"Checksum{algorithm}"] == _b64(digest(data))


def test_wrong_checksum_is_bad_digest(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as err:
        s3.put_object(Bucket=bucket, Key="bad", Body=b"data", ChecksumCRC32=_crc32(b"other"))
    assert _code(err) == ("BadDigest", 400)
    with pytest.raises(ClientError) as err:
        s3.put_object(Bucket=bucket, Key="bad", Body=b"data", ChecksumSHA256=_b64(hashlib.sha256(b"x").digest()))
    assert _code(err) == ("BadDigest", 400)
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="bad")


def test_content_md5(s3: Any, bucket: str) -> None:
    data = b"content md5"
    s3.put_object(Bucket=bucket, Key="ok", Body=data, ContentMD5=_b64(hashlib.md5(data).digest()))
    with pytest.raises(ClientError) as err:
        s3.put_object(Bucket=bucket, Key="bad", Body=data, ContentMD5=_b64(hashlib.md5(b"no").digest()))
    assert _code(err) == ("BadDigest", 400)
    with pytest.raises(ClientError) as err:
        s3.put_object(Bucket=bucket, Key="bad", Body=data, ContentMD5="not base64!")
    assert _code(err) == ("InvalidDigest", 400)
    with pytest.raises(ClientError) as err:
        s3.upload_part(Bucket=bucket, Key="mp", PartNumber=1, Body=data,
                       UploadId=s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"],
                       ContentMD5=_b64(hashlib.md5(b"no").digest()))
    assert _code(err) == ("BadDigest", 400)


def test_crc32c(s3: Any, bucket: str) -> None:
    value = _b64(b"\x00\x00\x00\x00")
    if checksums.supported("CRC32C"):
        data = b"123456789"
        put = s3.put_object(Bucket=bucket, Key="c32c", Body=data, ChecksumCRC32C=_b64(bytes.fromhex("e3069283")))
        assert put["ChecksumCRC32C"] == _b64(bytes.fromhex("e3069283"))
    else:
        with pytest.raises(ClientError) as err:
            s3.put_object(Bucket=bucket, Key="c32c", Body=b"x", ChecksumCRC32C=value)
        assert _code(err) == ("NotImplemented", 501)
        assert "CRC32C" in err.value.response["Error"]["Message"]
        s3.put_object(Bucket=bucket, Key="after", Body=b"x")  # other algorithms unaffected


def _chunked(data: bytes, trailer: str, chunk: int = 65536) -> bytes:
    out = bytearray()
    for i in range(0, len(data), chunk):
        piece = data[i:i + chunk]
        out += f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    out += b"0\r\n" + trailer.encode() + b"\r\n\r\n"
    return bytes(out)


def _chunked_headers(data: bytes, algorithm: str) -> dict[str, str]:
    return {"x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER", "content-encoding": "aws-chunked",
            "x-amz-decoded-content-length": str(len(data)), "x-amz-trailer": f"x-amz-checksum-{algorithm}"}


def test_aws_chunked_trailer_checksum(kiln_server: Any, s3: Any, bucket: str) -> None:
    data = os.urandom(300_000)
    body = _chunked(data, f"x-amz-checksum-crc32:{_crc32(data)}")
    r = httpx.put(f"{kiln_server.url}/{bucket}/trailer", content=body, headers=_chunked_headers(data, "crc32"))
    assert r.status_code == 200, r.text
    assert r.headers["x-amz-checksum-crc32"] == _crc32(data)
    got = s3.get_object(Bucket=bucket, Key="trailer")
    assert got["Body"].read() == data
    assert got.get("ContentEncoding") is None  # aws-chunked is a transfer detail, not stored

    bad = _chunked(data, f"x-amz-checksum-crc32:{_crc32(b'other')}")
    r = httpx.put(f"{kiln_server.url}/{bucket}/trailer-bad", content=bad, headers=_chunked_headers(data, "crc32"))
    assert r.status_code == 400
    assert "<Code>BadDigest</Code>" in r.text
    sha = _b64(hashlib.sha256(data).digest())
    r = httpx.put(f"{kiln_server.url}/{bucket}/trailer-sha", content=_chunked(data, f"x-amz-checksum-sha256:{sha}"),
                  headers=_chunked_headers(data, "sha256"))
    assert r.status_code == 200, r.text
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="trailer-bad")


def test_truncated_body_is_not_stored(kiln_server: Any, s3: Any, bucket: str) -> None:
    data = b"x" * 1000
    headers = {"x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER", "content-encoding": "aws-chunked",
               "x-amz-decoded-content-length": "5000"}
    r = httpx.put(f"{kiln_server.url}/{bucket}/short", content=_chunked(data, ""), headers=headers)
    assert r.status_code == 400
    assert "<Code>IncompleteBody</Code>" in r.text
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="short")


def test_payload_sha256_mismatch(kiln_server: Any, bucket: str) -> None:
    r = httpx.put(f"{kiln_server.url}/{bucket}/sha", content=b"real body",
                  headers={"x-amz-content-sha256": hashlib.sha256(b"claimed").hexdigest()})
    assert r.status_code == 400
    assert "<Code>XAmzContentSHA256Mismatch</Code>" in r.text
    r = httpx.put(f"{kiln_server.url}/{bucket}/sha", content=b"real body",
                  headers={"x-amz-content-sha256": hashlib.sha256(b"real body").hexdigest()})
    assert r.status_code == 200


def _files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


TRAVERSAL_KEYS = ["../../escape.txt", "../outside", "/abs/path.txt", "a/../../../b", "..", "./dot",
                  "dir/./x/../y", "%2e%2e/pct", "\\..\\win", "objects/../../kiln.db"]


def test_keys_never_become_paths(kiln_server: Any, s3: Any, bucket: str) -> None:
    data_dir: Path = kiln_server.data_dir
    outside = data_dir.parent
    before_outside = {p for p in _files_under(outside) if data_dir not in p.parents}
    for key in TRAVERSAL_KEYS:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert sorted(listed) == sorted(TRAVERSAL_KEYS)
    for key in TRAVERSAL_KEYS:
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == key.encode()
    after_outside = {p for p in _files_under(outside) if data_dir not in p.parents}
    assert after_outside == before_outside
    objects_root = data_dir / "objects"
    for path in _files_under(objects_root):
        rel = path.relative_to(objects_root).parts
        assert len(rel) == 2 and (len(rel[0]) == 2 or rel[0] == ".tmp"), rel


def test_key_with_nul_is_rejected(kiln_server: Any, bucket: str) -> None:
    r = httpx.put(f"{kiln_server.url}/{bucket}/bad%00key", content=b"x")
    assert r.status_code == 400
    assert "<Code>InvalidArgument</Code>" in r.text


def test_virtual_host_style(kiln_server: Any, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="vh/key.txt", Body=b"virtual")
    # a raw request naming the bucket in the Host header
    r = httpx.get(f"{kiln_server.url}/vh/key.txt", headers={"Host": f"{bucket}.localhost:{kiln_server.port}"})
    assert r.status_code == 200
    assert r.content == b"virtual"
    # boto3 in virtual-host mode; *.localhost may not resolve here, so route it through the server as
    # an HTTP proxy: the request line carries the absolute URL, the Host header names the bucket.
    vclient = boto3.client("s3", endpoint_url=f"http://localhost:{kiln_server.port}", region_name="us-east-1",
                           aws_access_key_id="kiln", aws_secret_access_key="kiln",
                           config=Config(s3={"addressing_style": "virtual"}, proxies={"http": kiln_server.url},
                                         retries={"max_attempts": 1}))
    sent: list[str] = []
    vclient.meta.events.register("before-send.s3", lambda request, **_: sent.append(request.url))
    vclient.put_object(Bucket=bucket, Key="vh/boto.txt", Body=b"boto virtual")
    assert sent[-1] == f"http://{bucket}.localhost:{kiln_server.port}/vh/boto.txt"
    assert vclient.get_object(Bucket=bucket, Key="vh/boto.txt")["Body"].read() == b"boto virtual"
    keys = [o["Key"] for o in vclient.list_objects_v2(Bucket=bucket, Prefix="vh/")["Contents"]]
    assert keys == ["vh/boto.txt", "vh/key.txt"]
