"""Multipart uploads: the raw operations, their errors, and boto3's managed transfers."""

from __future__ import annotations

import base64
import hashlib
import os
import uuid
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

MIB = 1024 * 1024


@pytest.fixture
def s3(aws_client: Callable[..., Any]) -> Any:
    return aws_client("s3")


@pytest.fixture
def bucket(s3: Any) -> Iterator[str]:
    name = f"kiln-mpu-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=name)
    yield name
    for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=name):
        for u in page.get("Uploads", []):
            s3.abort_multipart_upload(Bucket=name, Key=u["Key"], UploadId=u["UploadId"])
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        for obj in page.get("Contents", []):
            s3.delete_object(Bucket=name, Key=obj["Key"])
    s3.delete_bucket(Bucket=name)


def _code(err: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    r = err.value.response
    return r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"]


def _upload_parts(s3: Any, bucket: str, key: str, upload_id: str, parts: list[bytes]) -> list[dict[str, Any]]:
    out = []
    for i, data in enumerate(parts, start=1):
        r = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=i, Body=data)
        assert r["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
        out.append({"PartNumber": i, "ETag": r["ETag"]})
    return out


def test_multipart_lifecycle(s3: Any, bucket: str) -> None:
    parts = [os.urandom(5 * MIB), os.urandom(5 * MIB), b"tail bytes"]
    created = s3.create_multipart_upload(Bucket=bucket, Key="mp/obj", ContentType="text/x-mp",
                                         Metadata={"k": "v"})
    upload_id = created["UploadId"]
    assert (created["Bucket"], created["Key"]) == (bucket, "mp/obj")
    done = _upload_parts(s3, bucket, "mp/obj", upload_id, parts)

    listed = s3.list_parts(Bucket=bucket, Key="mp/obj", UploadId=upload_id)
    assert [(p["PartNumber"], p["Size"]) for p in listed["Parts"]] == [(1, 5 * MIB), (2, 5 * MIB), (3, 10)]
    uploads = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in uploads] == [("mp/obj", upload_id)]
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="mp/obj")  # not visible before completion

    out = s3.complete_multipart_upload(Bucket=bucket, Key="mp/obj", UploadId=upload_id,
                                       MultipartUpload={"Parts": done})
    md5s = b"".join(hashlib.md5(p).digest() for p in parts)
    assert out["ETag"] == f'"{hashlib.md5(md5s).hexdigest()}-3"'
    got = s3.get_object(Bucket=bucket, Key="mp/obj")
    assert got["Body"].read() == b"".join(parts)
    assert got["ETag"] == out["ETag"]
    assert got["ContentType"] == "text/x-mp"
    assert got["Metadata"] == {"k": "v"}
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    part2 = s3.get_object(Bucket=bucket, Key="mp/obj", PartNumber=2)
    assert part2["Body"].read() == parts[1]
    assert part2["PartsCount"] == 3
    ranged = s3.get_object(Bucket=bucket, Key="mp/obj", Range=f"bytes={5 * MIB - 3}-{5 * MIB + 2}")
    assert ranged["Body"].read() == (parts[0] + parts[1])[5 * MIB - 3:5 * MIB + 3]


def test_list_parts_pagination_and_part_replacement(s3: Any, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="p")["UploadId"]
    for i in range(1, 6):
        s3.upload_part(Bucket=bucket, Key="p", UploadId=upload_id, PartNumber=i, Body=f"part{i}".encode())
    s3.upload_part(Bucket=bucket, Key="p", UploadId=upload_id, PartNumber=3, Body=b"again")
    numbers: list[int] = []
    for page in s3.get_paginator("list_parts").paginate(Bucket=bucket, Key="p", UploadId=upload_id,
                                                        PaginationConfig={"PageSize": 2}):
        numbers += [p["PartNumber"] for p in page["Parts"]]
    assert numbers == [1, 2, 3, 4, 5]
    third = s3.list_parts(Bucket=bucket, Key="p", UploadId=upload_id, PartNumberMarker=2, MaxParts=1)
    assert third["Parts"][0]["ETag"] == f'"{hashlib.md5(b"again").hexdigest()}"'
    assert third["IsTruncated"] is True
    assert third["NextPartNumberMarker"] == 3


def test_complete_errors(s3: Any, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="e")["UploadId"]
    done = _upload_parts(s3, bucket, "e", upload_id, [os.urandom(5 * MIB), b"last"])
    cases = [
        ([{"PartNumber": 1, "ETag": '"00000000000000000000000000000000"'}, done[1]], "InvalidPart"),
        ([done[0], {"PartNumber": 7, "ETag": done[1]["ETag"]}], "InvalidPart"),
        ([done[1], done[0]], "InvalidPartOrder"),
    ]
    for parts, code in cases:
        with pytest.raises(ClientError) as err:
            s3.complete_multipart_upload(Bucket=bucket, Key="e", UploadId=upload_id,
                                         MultipartUpload={"Parts": parts})
        assert _code(err) == (code, 400)

    small = s3.create_multipart_upload(Bucket=bucket, Key="small")["UploadId"]
    tiny = _upload_parts(s3, bucket, "small", small, [b"a", b"b"])
    with pytest.raises(ClientError) as err:
        s3.complete_multipart_upload(Bucket=bucket, Key="small", UploadId=small,
                                     MultipartUpload={"Parts": tiny})
    assert _code(err) == ("EntityTooSmall", 400)

    # still completable after the failed attempts
    s3.complete_multipart_upload(Bucket=bucket, Key="e", UploadId=upload_id, MultipartUpload={"Parts": done})
    with pytest.raises(ClientError) as err:
        s3.complete_multipart_upload(Bucket=bucket, Key="e", UploadId=upload_id,
                                     MultipartUpload={"Parts": done})
    assert _code(err) == ("NoSuchUpload", 404)


def test_abort_and_no_such_upload(s3: Any, bucket: str, kiln_server: Any) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="ab")["UploadId"]
    _upload_parts(s3, bucket, "ab", upload_id, [b"x" * 1000, b"y" * 1000])
    blobs_before = sum(1 for _ in kiln_server.platform.objects.files.scan())
    s3.abort_multipart_upload(Bucket=bucket, Key="ab", UploadId=upload_id)
    assert sum(1 for _ in kiln_server.platform.objects.files.scan()) == blobs_before - 2
    for call in (
        lambda: s3.abort_multipart_upload(Bucket=bucket, Key="ab", UploadId=upload_id),
        lambda: s3.list_parts(Bucket=bucket, Key="ab", UploadId=upload_id),
        lambda: s3.upload_part(Bucket=bucket, Key="ab", UploadId=upload_id, PartNumber=1, Body=b"z"),
        lambda: s3.upload_part(Bucket=bucket, Key="ab", UploadId="made-up", PartNumber=1, Body=b"z"),
    ):
        with pytest.raises(ClientError) as err:
            call()
        assert _code(err) == ("NoSuchUpload", 404)
    with pytest.raises(ClientError) as err:
        s3.upload_part(Bucket=bucket, Key="ab", UploadId=upload_id, PartNumber=10001, Body=b"z")
    assert _code(err)[1] == 400


def test_list_multipart_uploads_prefix_and_pagination(s3: Any, bucket: str) -> None:
    ids = {}
    for key in ["u/a", "u/b", "u/b", "v/c"]:
        ids.setdefault(key, []).append(s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"])
    only_u = s3.list_multipart_uploads(Bucket=bucket, Prefix="u/")
    assert sorted(u["Key"] for u in only_u["Uploads"]) == ["u/a", "u/b", "u/b"]
    grouped = s3.list_multipart_uploads(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in grouped["CommonPrefixes"]] == ["u/", "v/"]
    seen: list[str] = []
    for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket,
                                                                    PaginationConfig={"PageSize": 1}):
        seen += [u["UploadId"] for u in page.get("Uploads", [])]
    assert sorted(seen) == sorted(i for v in ids.values() for i in v)


def test_multipart_composite_checksum(s3: Any, bucket: str) -> None:
    parts = [os.urandom(5 * MIB), b"end"]
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="ck", ChecksumAlgorithm="CRC32")["UploadId"]
    done = []
    for i, data in enumerate(parts, start=1):
        r = s3.upload_part(Bucket=bucket, Key="ck", UploadId=upload_id, PartNumber=i, Body=data,
                           ChecksumAlgorithm="CRC32")
        crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
        assert r["ChecksumCRC32"] == crc
        done.append({"PartNumber": i, "ETag": r["ETag"], "ChecksumCRC32": crc})
    out = s3.complete_multipart_upload(Bucket=bucket, Key="ck", UploadId=upload_id,
                                       MultipartUpload={"Parts": done})
    raw = b"".join(base64.b64decode(p["ChecksumCRC32"]) for p in done)
    expected = base64.b64encode(zlib.crc32(raw).to_bytes(4, "big")).decode() + "-2"
    assert out["ChecksumCRC32"] == expected
    head = s3.head_object(Bucket=bucket, Key="ck", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32"] == expected
    assert head["ChecksumType"] == "COMPOSITE"


def test_multipart_full_object_checksum(s3: Any, bucket: str) -> None:
    parts = [os.urandom(5 * MIB), b"end"]
    whole = b"".join(parts)
    crc = base64.b64encode(zlib.crc32(whole).to_bytes(4, "big")).decode()
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="fo", ChecksumAlgorithm="CRC32",
                                           ChecksumType="FULL_OBJECT")["UploadId"]
    done = _upload_parts(s3, bucket, "fo", upload_id, parts)
    out = s3.complete_multipart_upload(Bucket=bucket, Key="fo", UploadId=upload_id, ChecksumCRC32=crc,
                                       ChecksumType="FULL_OBJECT", MultipartUpload={"Parts": done})
    assert out["ChecksumCRC32"] == crc
    got = s3.get_object(Bucket=bucket, Key="fo", ChecksumMode="ENABLED")
    assert got["ChecksumCRC32"] == crc
    assert got["Body"].read() == whole  # botocore validates the full-object CRC32 while reading


def _random_file(path: Path, size: int) -> str:
    md5 = hashlib.md5()
    with open(path, "wb") as f:
        left = size
        while left:
            chunk = os.urandom(min(8 * MIB, left))
            md5.update(chunk)
            f.write(chunk)
            left -= len(chunk)
    return md5.hexdigest()


def _file_md5(path: Path) -> str:
    md5 = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(8 * MIB):
            md5.update(chunk)
    return md5.hexdigest()


def test_upload_file_download_file_200mb(s3: Any, bucket: str, tmp_path: Path) -> None:
    src = tmp_path / "big.bin"
    size = 200 * MIB + 12345
    digest = _random_file(src, size)
    s3.upload_file(str(src), bucket, "big/blob.bin")
    head = s3.head_object(Bucket=bucket, Key="big/blob.bin")
    assert head["ContentLength"] == size
    assert head["ETag"].endswith('-26"')  # 8 MiB parts: 25 full ones and the rest
    dest = tmp_path / "back.bin"
    s3.download_file(bucket, "big/blob.bin", str(dest))
    assert dest.stat().st_size == size
    assert _file_md5(dest) == digest
    src.unlink()
    dest.unlink()


def test_upload_fileobj_small_parts(s3: Any, bucket: str, tmp_path: Path) -> None:
    src = tmp_path / "mid.bin"
    digest = _random_file(src, 17 * MIB + 3)
    config = TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB, max_concurrency=4)
    with open(src, "rb") as f:
        s3.upload_fileobj(f, bucket, "mid", Config=config)
    dest = tmp_path / "mid.out"
    s3.download_file(bucket, "mid", str(dest), Config=TransferConfig(multipart_chunksize=5 * MIB))
    assert _file_md5(dest) == digest
