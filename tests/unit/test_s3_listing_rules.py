"""S3 listing semantics (listing.page) over an in-memory sorted key source, and the wire helpers."""

from __future__ import annotations

import base64
import zlib
from datetime import UTC, datetime

import pytest

from kiln.services.s3 import checksums, listing, wire
from kiln.services.s3.models import DigestMismatch, InvalidBucketName, InvalidDigest, ObjectInfo, RangeNotSatisfiable
from kiln.services.s3.store import validate_bucket_name

NOW = datetime(2024, 1, 1, tzinfo=UTC)


class Source:
    def __init__(self, keys: list[str]) -> None:
        self.keys = sorted(keys)
        self.calls = 0

    def fetch(self, lower: str | None, inclusive: bool, prefix: str, limit: int) -> list[ObjectInfo]:
        self.calls += 1
        out = [k for k in self.keys if k.startswith(prefix)
               and (lower is None or (k >= lower if inclusive else k > lower))]
        return [ObjectInfo("b", k, 0, '"x"', NOW, None, {}) for k in out[:limit]]


def _walk(src: Source, **kw: object) -> tuple[list[str], list[str]]:
    keys: list[str] = []
    prefixes: list[str] = []
    after = None
    while True:
        page = listing.page(src.fetch, after=after, **kw)  # type: ignore[arg-type]
        keys += [o.key for o in page.objects]
        prefixes += page.common_prefixes
        if not page.truncated:
            return keys, prefixes
        after = page.last


KEYS = ["a", "b/1", "b/2", "b/c/1", "c", "d/x/y/z", "d/y", "e/"]


@pytest.mark.parametrize(("kw", "keys", "prefixes"), [
    ({}, KEYS, []),
    ({"delimiter": "/"}, ["a", "c"], ["b/", "d/", "e/"]),
    ({"prefix": "b/", "delimiter": "/"}, ["b/1", "b/2"], ["b/c/"]),
    ({"prefix": "d/", "delimiter": "/"}, ["d/y"], ["d/x/"]),
    ({"prefix": "b"}, ["b/1", "b/2", "b/c/1"], []),
    ({"prefix": "zzz"}, [], []),
    ({"prefix": "b/", "delimiter": "c"}, ["b/1", "b/2"], ["b/c"]),
])
@pytest.mark.parametrize("max_keys", [1, 2, 3, 1000])
def test_pages_add_up(kw: dict[str, object], keys: list[str], prefixes: list[str], max_keys: int) -> None:
    got_keys, got_prefixes = _walk(Source(KEYS), max_keys=max_keys, **kw)
    assert (got_keys, got_prefixes) == (keys, prefixes)


def test_truncation_and_marker() -> None:
    src = Source(KEYS)
    page = listing.page(src.fetch, delimiter="/", max_keys=2)
    assert ([o.key for o in page.objects], page.common_prefixes, page.truncated, page.last) == (["a"], ["b/"], True,
                                                                                                 "b/")
    after = listing.page(src.fetch, delimiter="/", after="b/")
    assert after.common_prefixes == ["d/", "e/"]
    inside = listing.page(src.fetch, delimiter="/", after="b/1")  # a marker inside a rolled-up prefix
    assert [o.key for o in inside.objects] == ["c"]
    empty = listing.page(src.fetch, max_keys=0)
    assert (empty.objects, empty.common_prefixes, empty.truncated) == ([], [], False)


def test_skip_scan_reads_one_query_per_prefix() -> None:
    src = Source([f"dir{d}/file{i:04d}" for d in range(5) for i in range(2000)])
    page = listing.page(src.fetch, delimiter="/", batch=100)
    assert page.common_prefixes == [f"dir{d}/" for d in range(5)]
    assert src.calls <= 6


def test_successor() -> None:
    assert listing.successor("a/") == "a0"
    assert listing.successor("a\U0010ffff") == "b"
    assert listing.successor("\ud7ff") == "\ue000"
    assert listing.successor("") is None


@pytest.mark.parametrize(("header", "size", "want"), [
    ("bytes=0-0", 10, (0, 0)),
    ("bytes=3-", 10, (3, 9)),
    ("bytes=-3", 10, (7, 9)),
    ("bytes=5-100", 10, (5, 9)),
    ("bytes=5-2", 10, None),
    ("bytes=0-1,3-4", 10, None),
    ("items=0-1", 10, None),
    (None, 10, None),
])
def test_byte_range(header: str | None, size: int, want: tuple[int, int] | None) -> None:
    assert wire.byte_range(header, size) == want


@pytest.mark.parametrize(("header", "size"), [("bytes=10-", 10), ("bytes=0-", 0), ("bytes=-0", 10)])
def test_unsatisfiable_range(header: str, size: int) -> None:
    with pytest.raises(RangeNotSatisfiable):
        wire.byte_range(header, size)


def test_continuation_token_roundtrip() -> None:
    assert wire.decode_token(wire.encode_token("dir/日本")) == "dir/日本"


def test_checksum_verify() -> None:
    data = b"abc"
    crc = zlib.crc32(data).to_bytes(4, "big")
    out = checksums.verify({"CRC32": crc}, b"0" * 16, content_md5=None,
                           declared={"CRC32": base64.b64encode(crc).decode()})
    assert out == {"CRC32": base64.b64encode(crc).decode()}
    with pytest.raises(DigestMismatch):
        checksums.verify({"CRC32": crc}, b"0" * 16, content_md5=None, declared={"CRC32": "AAAAAA=="})
    with pytest.raises(InvalidDigest):
        checksums.verify({"CRC32": crc}, b"0" * 16, content_md5=None, declared={"CRC32": "AAAA"})
    with pytest.raises(InvalidDigest):
        checksums.verify({}, b"0" * 16, content_md5="!!", declared={})


def test_composite_checksum() -> None:
    parts = [zlib.crc32(b"a").to_bytes(4, "big"), zlib.crc32(b"b").to_bytes(4, "big")]
    value = checksums.composite("CRC32", [base64.b64encode(p).decode() for p in parts])
    assert value == base64.b64encode(zlib.crc32(b"".join(parts)).to_bytes(4, "big")).decode() + "-2"


@pytest.mark.parametrize("name", ["abc", "my-bucket.data", "a" * 63, "sagemaker-us-east-1-123456789012"])
def test_valid_bucket_names(name: str) -> None:
    validate_bucket_name(name)


@pytest.mark.parametrize("name", ["ab", "a" * 64, "Abc", "a_b", "a..b", "a.-b", "10.0.0.1", "xn--abc", "x-s3alias"])
def test_invalid_bucket_names(name: str) -> None:
    with pytest.raises(InvalidBucketName):
        validate_bucket_name(name)
