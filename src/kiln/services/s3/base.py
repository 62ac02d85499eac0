"""What the S3 operation groups share: the store, the bucket-owner check, receiving a body."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from starlette.requests import ClientDisconnect

from kiln.aws.context import RequestContext
from kiln.aws.dispatch import Provider
from kiln.aws.protocol.chunked import is_aws_chunked
from kiln.services.s3 import checksums as cks
from kiln.services.s3 import wire
from kiln.services.s3.blobs import StagedBlob
from kiln.services.s3.errors import AccessDenied, IncompleteBody, InvalidArgument
from kiln.services.s3.models import Bucket
from kiln.services.s3.multipart import Multipart
from kiln.services.s3.store import ObjectStore

T = TypeVar("T")
_SHA256_HEX = re.compile(r"^[0-9a-fA-F]{64}$")


class S3Base(Provider):
    service = "s3"
    store: ObjectStore
    multipart: Multipart

    def bucket(self, ctx: RequestContext, request: dict[str, Any]) -> Bucket:
        """The request's bucket (NoSuchBucket), checked against x-amz-expected-bucket-owner (403)."""
        bucket = self.store.bucket(request["Bucket"])
        self.check_owner(bucket, request.get("ExpectedBucketOwner"))
        return bucket

    @staticmethod
    def check_owner(bucket: Bucket, expected: str | None) -> None:
        if expected is not None and expected != bucket.account_id:
            raise AccessDenied("Access Denied")

    def precheck(self, request: dict[str, Any]) -> None:
        """Before reading a body: the bucket exists, the key is valid, the owner is as expected."""
        if request.get("ExpectedBucketOwner") is not None:
            self.check_owner(self.store.bucket(request["Bucket"]), request["ExpectedBucketOwner"])
        self.store.check_target(request["Bucket"], request["Key"])

    async def receive(self, ctx: RequestContext, request: dict[str, Any],
                      then: Callable[[StagedBlob, dict[str, str]], T], default_algorithm: str | None = None) -> T:
        """Stream the request body to a staged blob, verify every digest the client declared, then
        call `then(staged, checksums)` in the same worker thread (it commits the blob).

        `checksums` are the ones to store (algorithm -> base64). On any error the blob is discarded.
        """
        headers = ctx.headers
        algorithms = wire.requested_algorithms(request, headers, default_algorithm)
        sha = headers.get("x-amz-content-sha256", "")
        # Kiln does not check signatures, so the signed payload hash only guards integrity: verify
        # it when it is the client's only digest (boto3 also sends CRC32, which is far cheaper).
        declared_any = (request.get("ContentMD5") is not None
                        or any(request.get(f"Checksum{a}") for a in cks.KNOWN)
                        or "x-amz-checksum-" in headers.get("x-amz-trailer", "").lower())
        sign = bool(_SHA256_HEX.match(sha)) and not declared_any
        body = request.get("Body")
        if body is None or isinstance(body, bytes | bytearray):
            body = _once(bytes(body or b""))

        def verify_then(staged: StagedBlob) -> T:
            trailers = getattr(body, "trailers", {}) or {}
            checksums = cks.verify(staged.digests, staged.md5, content_md5=request.get("ContentMD5"),
                                   declared=wire.declared_checksums(request, trailers),
                                   payload_sha256=(sha, staged.sha256_hex) if sign else None)
            return then(staged, checksums)

        try:
            return await self.store.receive(body, verify_then, algorithms, sha256_payload=sign,
                                            expected_size=_declared_size(headers))
        except ClientDisconnect as exc:
            raise IncompleteBody("The request body terminated unexpectedly") from exc


def _declared_size(headers: dict[str, str]) -> int | None:
    raw = headers.get("x-amz-decoded-content-length") if is_aws_chunked(headers) else headers.get("content-length")
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError as exc:
        raise InvalidArgument("Content-Length is not a number") from exc


async def _once(data: bytes) -> Any:
    yield data
