"""S3 object operations: Put/Get/Head/Delete/DeleteObjects/Copy and the two listings."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kiln.aws.context import RequestContext
from kiln.aws.dispatch import operation
from kiln.core.errors import DomainError
from kiln.services.s3 import wire
from kiln.services.s3.base import S3Base
from kiln.services.s3.blobs import BlobFiles, StagedBlob, iter_segments
from kiln.services.s3.errors import InvalidPartNumber, InvalidRequest, MalformedXML, PreconditionFailed, to_aws
from kiln.services.s3.models import ObjectInfo, ObjectRecord
from kiln.services.s3.store import validate_key

SMALL_BODY = 1024 * 1024  # GetObject bodies up to this size are read whole, bigger ones streamed


class PinnedBody:
    """A GetObject body: iterates a byte range of pinned blobs in 1 MiB chunks, unpins when done."""

    def __init__(self, files: BlobFiles, record: ObjectRecord, first: int, last: int) -> None:
        self._files = files
        self._blobs = [s.blob for s in record.segments]
        self._chunks: Iterator[bytes] = iter_segments(files, record.segments, first, last)
        self._open = True

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        try:
            return next(self._chunks)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._open:
            self._open = False
            close = getattr(self._chunks, "close", None)
            if close is not None:
                close()
            self._files.unpin(self._blobs)

    def __del__(self) -> None:
        self.close()


class ObjectOperations(S3Base):
    @operation("PutObject")
    async def put_object(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        self.precheck(request)  # one indexed read, cheaper inline than a thread hop
        options = wire.write_options(request)

        def commit(staged: StagedBlob, checksums: dict[str, str]) -> tuple[ObjectInfo, dict[str, str]]:
            return self.store.commit(request["Bucket"], request["Key"], staged, options,
                                     checksums=checksums), checksums

        info, checksums = await self.receive(ctx, request, commit)
        out: dict[str, Any] = {"ETag": info.etag}
        if checksums:
            out.update(wire.checksum_members(checksums))
            out["ChecksumType"] = "FULL_OBJECT"
        return out

    @operation("GetObject")
    def get_object(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        self._owner(request)
        record = self.store.pinned(request["Bucket"], request["Key"])
        try:
            wire.check_conditions(record.info, request)
            size = record.info.size
            span, content_range = self._span(record, request)
            out = wire.object_members(record, with_checksums=span is None
                                      and request.get("ChecksumMode") == "ENABLED")
            first, last = span if span is not None else (0, size - 1)
            if content_range:
                out["ContentRange"] = content_range
                out["ContentLength"] = last - first + 1
            for member in ("CacheControl", "ContentDisposition", "ContentEncoding", "ContentLanguage",
                           "ContentType", "Expires"):
                override = request.get(f"Response{member}")
                if override is not None:
                    out[member] = override
            if last - first < SMALL_BODY:  # read it now: no per-chunk thread hops for small objects
                out["Body"] = b"".join(iter_segments(self.store.files, record.segments, first, last))
                self.store.files.unpin([s.blob for s in record.segments])
            else:
                out["Body"] = PinnedBody(self.store.files, record, first, last)
            return out
        except BaseException:
            self.store.files.unpin([s.blob for s in record.segments])
            raise

    @staticmethod
    def _span(record: ObjectRecord, request: dict[str, Any]) -> tuple[tuple[int, int] | None, str | None]:
        size = record.info.size
        part = request.get("PartNumber")
        if part is not None:
            count = record.parts_count or 1
            if part < 1 or part > count:
                raise InvalidPartNumber("The requested partnumber is not satisfiable")
            if record.parts_count is None:
                return (0, size - 1), f"bytes 0-{size - 1}/{size}" if size else None
            first = sum(s.size for s in record.segments[: part - 1])
            last = first + record.segments[part - 1].size - 1
            return (first, last), f"bytes {first}-{last}/{size}"
        span = wire.byte_range(request.get("Range"), size)
        if span is None:
            return None, None
        return span, f"bytes {span[0]}-{span[1]}/{size}"

    @operation("HeadObject")
    def head_object(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        self._owner(request)
        record = self.store.record(request["Bucket"], request["Key"])
        wire.check_conditions(record.info, request)
        out = wire.object_members(record, with_checksums=request.get("ChecksumMode") == "ENABLED")
        part = request.get("PartNumber")
        if part is not None and record.parts_count:
            if part < 1 or part > record.parts_count:
                raise InvalidPartNumber("The requested partnumber is not satisfiable")
            out["ContentLength"] = record.segments[part - 1].size
        return out

    @operation("DeleteObject")
    def delete_object(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        self._owner(request)
        self.store.delete(request["Bucket"], request["Key"])
        return {}

    @operation("DeleteObjects")
    def delete_objects(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        self._owner(request)
        spec = request.get("Delete") or {}
        objects = spec.get("Objects") or []
        if not objects or len(objects) > 1000:
            raise MalformedXML("The XML you provided was not well-formed or did not validate against our "
                               "published schema")
        keys: list[str] = []
        errors: list[dict[str, str]] = []
        for item in objects:
            key = item.get("Key", "")
            try:
                validate_key(key)
                keys.append(key)
            except DomainError as err:
                mapped = to_aws(err)
                errors.append({"Key": key, "Code": mapped.code, "Message": mapped.message})
        self.store.delete_many(request["Bucket"], keys)
        out: dict[str, Any] = {"Errors": errors} if errors else {}
        if not spec.get("Quiet"):
            out["Deleted"] = [{"Key": k} for k in keys]
        return out

    @operation("CopyObject")
    def copy_object(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        self._owner(request)
        src_bucket, src_key = wire.copy_source(request["CopySource"])
        dst_bucket, dst_key = request["Bucket"], request["Key"]
        replace = request.get("MetadataDirective", "COPY") == "REPLACE"
        if (src_bucket, src_key) == (dst_bucket, dst_key) and not replace:
            raise InvalidRequest("This copy request is illegal because it is trying to copy an object to "
                                 "itself without changing the object's metadata, storage class, website "
                                 "redirect location or encryption attributes.")
        source = self.store.record(src_bucket, src_key)
        self._copy_conditions(source, request)
        info = self.store.copy(src_bucket, src_key, dst_bucket, dst_key,
                               wire.write_options(request) if replace else None)
        result: dict[str, Any] = {"ETag": info.etag, "LastModified": info.last_modified}
        if source.checksums:
            result.update(wire.checksum_members(source.checksums))
            if source.checksum_type:
                result["ChecksumType"] = source.checksum_type
        return {"CopyObjectResult": result}

    @staticmethod
    def _copy_conditions(source: ObjectRecord, request: dict[str, Any]) -> None:
        etag = source.info.etag.strip('"')
        modified = source.info.last_modified.replace(microsecond=0)
        failed = (
            (request.get("CopySourceIfMatch") is not None
             and request["CopySourceIfMatch"].strip('"') not in (etag, "*"))
            or (request.get("CopySourceIfNoneMatch") is not None
                and request["CopySourceIfNoneMatch"].strip('"') in (etag, "*"))
            or (request.get("CopySourceIfModifiedSince") is not None
                and modified <= request["CopySourceIfModifiedSince"])
            or (request.get("CopySourceIfUnmodifiedSince") is not None
                and modified > request["CopySourceIfUnmodifiedSince"])
        )
        if failed:
            raise PreconditionFailed("At least one of the pre-conditions you specified did not hold")

    @operation("ListObjects")
    def list_objects(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        self._owner(request)
        enc = wire.encoder(request.get("EncodingType"))
        prefix, delimiter = request.get("Prefix") or "", request.get("Delimiter") or None
        limit = wire.max_keys(request.get("MaxKeys"))
        marker = request.get("Marker") or None
        page = self.store.list_page(request["Bucket"], prefix=prefix, delimiter=delimiter, after=marker,
                                    max_keys=limit)
        out = self._listing(ctx, request, page, enc, fetch_owner=True)
        out.update({"Marker": enc(marker or ""), "MaxKeys": limit})
        if page.truncated and delimiter:
            out["NextMarker"] = enc(page.last)
        return out

    @operation("ListObjectsV2")
    def list_objects_v2(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        self._owner(request)
        enc = wire.encoder(request.get("EncodingType"))
        prefix, delimiter = request.get("Prefix") or "", request.get("Delimiter") or None
        limit = wire.max_keys(request.get("MaxKeys"))
        token = request.get("ContinuationToken")
        start_after = request.get("StartAfter") or None
        after = wire.decode_token(token) if token else start_after
        page = self.store.list_page(request["Bucket"], prefix=prefix, delimiter=delimiter, after=after,
                                    max_keys=limit)
        out = self._listing(ctx, request, page, enc, fetch_owner=bool(request.get("FetchOwner")))
        out.update({"MaxKeys": limit, "KeyCount": len(page.objects) + len(page.common_prefixes)})
        if token:
            out["ContinuationToken"] = token
        if start_after:
            out["StartAfter"] = enc(start_after)
        if page.truncated and page.last is not None:
            out["NextContinuationToken"] = wire.encode_token(page.last)
        return out

    def _listing(self, ctx: RequestContext, request: dict[str, Any], page: Any, enc: Any,
                 fetch_owner: bool) -> dict[str, Any]:
        owner = wire.owner(ctx.scope.account_id) if fetch_owner else None
        contents = [{"Key": enc(o.key), "LastModified": o.last_modified, "ETag": o.etag, "Size": o.size,
                     "StorageClass": "STANDARD", **({"Owner": owner} if owner else {})} for o in page.objects]
        out: dict[str, Any] = {
            "Name": request["Bucket"],
            "Prefix": enc(request.get("Prefix") or ""),
            "IsTruncated": page.truncated,
            "CommonPrefixes": [{"Prefix": enc(p)} for p in page.common_prefixes] or None,
            "Contents": contents or None,
        }
        if request.get("Delimiter"):
            out["Delimiter"] = enc(request["Delimiter"])
        if request.get("EncodingType"):
            out["EncodingType"] = request["EncodingType"]
        return out

    def _owner(self, request: dict[str, Any]) -> None:
        if request.get("ExpectedBucketOwner") is not None:
            self.bucket_owner_check(request)

    def bucket_owner_check(self, request: dict[str, Any]) -> None:
        self.check_owner(self.store.bucket(request["Bucket"]), request["ExpectedBucketOwner"])
