"""AWS shapes <-> the store's domain: request members to write options, records to response members,
Range headers, checksum declarations, continuation tokens, URL encoding of listings."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote, unquote

from kiln.aws.protocol.shapes import parse_timestamp
from kiln.services.s3 import checksums as cks
from kiln.services.s3.errors import InvalidArgument, NotModified, PreconditionFailed
from kiln.services.s3.models import ObjectInfo, ObjectRecord, RangeNotSatisfiable, WriteOptions

DEFAULT_CONTENT_TYPE = "binary/octet-stream"
STORED_HEADERS = ("CacheControl", "ContentDisposition", "ContentEncoding", "ContentLanguage", "Expires",
                  "WebsiteRedirectLocation")
_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$")
_TOKEN_PREFIX = "kiln1:"


def owner(account_id: str) -> dict[str, str]:
    """S3's Owner element: a 64-hex canonical user id derived from the account."""
    return {"ID": hashlib.sha256(f"kiln:{account_id}".encode()).hexdigest(), "DisplayName": account_id}


def write_options(request: Mapping[str, Any]) -> WriteOptions:
    headers: dict[str, str] = {}
    for name in STORED_HEADERS:
        value = request.get(name)
        if value is None:
            continue
        if isinstance(value, datetime):
            value = value.isoformat()
        if name == "ContentEncoding":
            value = ",".join(p for p in (s.strip() for s in str(value).split(",")) if p and p != "aws-chunked")
            if not value:
                continue
        headers[name] = str(value)
    return WriteOptions(request.get("ContentType"), dict(request.get("Metadata") or {}), headers)


def object_members(record: ObjectRecord, *, with_checksums: bool) -> dict[str, Any]:
    """The response members GetObject and HeadObject share."""
    info = record.info
    out: dict[str, Any] = {
        "ETag": info.etag,
        "LastModified": info.last_modified,
        "ContentLength": info.size,
        "ContentType": info.content_type or DEFAULT_CONTENT_TYPE,
        "AcceptRanges": "bytes",
        "Metadata": info.metadata,
    }
    for name, value in record.headers.items():
        out[name] = parse_timestamp(value) if name == "Expires" else value
    if record.parts_count:
        out["PartsCount"] = record.parts_count
    if with_checksums and record.checksums:
        out.update(checksum_members(record.checksums))
        if record.checksum_type:
            out["ChecksumType"] = record.checksum_type
    return out


def checksum_members(values: Mapping[str, str]) -> dict[str, str]:
    return {f"Checksum{algorithm}": value for algorithm, value in values.items()}


def requested_algorithms(request: Mapping[str, Any], headers: Mapping[str, str],
                         default: str | None = None) -> list[str]:
    """The checksum algorithms a write asks for: values sent in headers, in a trailer, or named."""
    out: list[str] = []
    for algorithm in cks.KNOWN:
        if request.get(f"Checksum{algorithm}") is not None:
            out.append(algorithm)
    trailer = headers.get("x-amz-trailer", "")
    for name in trailer.split(","):
        name = name.strip().lower()
        if name.startswith("x-amz-checksum-"):
            out.append(name.removeprefix("x-amz-checksum-").upper())
    named = request.get("ChecksumAlgorithm")
    if named:
        out.append(str(named).upper())
    if default:
        out.append(default)
    return list(dict.fromkeys(out))


def declared_checksums(request: Mapping[str, Any], trailers: Mapping[str, str]) -> dict[str, str]:
    """algorithm -> base64 value the client declared, from headers or aws-chunked trailers."""
    out: dict[str, str] = {}
    for algorithm in cks.KNOWN:
        value = request.get(f"Checksum{algorithm}") or trailers.get(f"x-amz-checksum-{algorithm.lower()}")
        if value:
            out[algorithm] = str(value)
    return out


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) inclusive for a Range header, None for no (or an unparseable) range.

    Raises:
        RangeNotSatisfiable: the range starts beyond the object (416 InvalidRange).
    """
    if not header:
        return None
    m = _RANGE.match(header)
    if not m or (not m.group(1) and not m.group(2)):
        return None  # S3 ignores a Range it cannot parse (incl. multiple ranges) and sends everything
    first_s, last_s = m.group(1), m.group(2)
    if not first_s:  # suffix: the last N bytes
        n = int(last_s)
        if n == 0 or size == 0:
            raise RangeNotSatisfiable(header, size)
        return max(0, size - n), size - 1
    first = int(first_s)
    last = int(last_s) if last_s else size - 1
    if last_s and last < first:
        return None
    if first >= size:
        raise RangeNotSatisfiable(header, size)
    return first, min(last, size - 1)


def check_conditions(info: ObjectInfo, request: Mapping[str, Any]) -> None:
    """If-Match / If-None-Match / If-(Un)Modified-Since, in S3's order of precedence."""
    etag = info.etag.strip('"')
    modified = info.last_modified.replace(microsecond=0)
    if_match = request.get("IfMatch")
    if if_match is not None and not _etag_in(if_match, etag):
        raise PreconditionFailed("At least one of the pre-conditions you specified did not hold",
                                 fields={"Condition": "If-Match"})
    since = request.get("IfUnmodifiedSince")
    if if_match is None and since is not None and modified > since:
        raise PreconditionFailed("At least one of the pre-conditions you specified did not hold",
                                 fields={"Condition": "If-Unmodified-Since"})
    if_none = request.get("IfNoneMatch")
    if if_none is not None and _etag_in(if_none, etag):
        raise NotModified("Not Modified", headers={"ETag": info.etag})
    since = request.get("IfModifiedSince")
    if if_none is None and since is not None and modified <= since:
        raise NotModified("Not Modified", headers={"ETag": info.etag})


def _etag_in(header: str, etag: str) -> bool:
    values = [v.strip().removeprefix("W/").strip('"') for v in header.split(",")]
    return "*" in values or etag in values


def copy_source(value: str) -> tuple[str, str]:
    """x-amz-copy-source (`bucket/key`, `/bucket/key`, URL-encoded, maybe `?versionId=`) -> (bucket, key)."""
    path = value.split("?", 1)[0]
    path = unquote(path).lstrip("/")
    bucket, _, key = path.partition("/")
    if not bucket or not key:
        raise InvalidArgument("Invalid copy source object key", fields={"ArgumentName": "x-amz-copy-source"})
    return bucket, key


def encode_token(last: str) -> str:
    return base64.urlsafe_b64encode((_TOKEN_PREFIX + last).encode()).decode()


def decode_token(token: str) -> str:
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidArgument("The continuation token provided is incorrect",
                              fields={"ArgumentName": "continuation-token"}) from exc
    if not text.startswith(_TOKEN_PREFIX):
        raise InvalidArgument("The continuation token provided is incorrect",
                              fields={"ArgumentName": "continuation-token"})
    return text[len(_TOKEN_PREFIX):]


def encoder(encoding_type: str | None) -> Any:
    """A function applying the listing's EncodingType (only `url` exists) to keys and prefixes."""
    if encoding_type == "url":
        return lambda v: None if v is None else quote(v, safe="/")
    return lambda v: v


def max_keys(value: int | None, limit: int = 1000) -> int:
    if value is None:
        return limit
    if value < 0:
        raise InvalidArgument("Provided max-keys not an integer or within integer range",
                              fields={"ArgumentName": "max-keys", "ArgumentValue": value})
    return min(value, limit)
