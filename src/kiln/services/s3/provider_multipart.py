"""S3 multipart upload operations."""

from __future__ import annotations

from typing import Any

from kiln.aws.context import RequestContext
from kiln.aws.dispatch import operation
from kiln.services.s3 import checksums as cks
from kiln.services.s3 import wire
from kiln.services.s3.base import S3Base
from kiln.services.s3.blobs import StagedBlob
from kiln.services.s3.errors import InvalidArgument
from kiln.services.s3.models import MAX_PART_NUMBER, Part, Upload
from kiln.services.s3.multipart import PartRef


class MultipartOperations(S3Base):
    @operation("CreateMultipartUpload")
    def create_multipart_upload(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        self.precheck(request)
        algorithm = request.get("ChecksumAlgorithm")
        kind = request.get("ChecksumType")
        if kind == "FULL_OBJECT" and algorithm not in ("CRC32", "CRC32C", "CRC64NVME"):
            raise InvalidArgument("The FULL_OBJECT checksum type is only supported with CRC algorithms.")
        upload = self.multipart.create(request["Bucket"], request["Key"], wire.write_options(request),
                                       checksum_algorithm=algorithm, checksum_type=kind)
        out: dict[str, Any] = {"Bucket": upload.bucket, "Key": upload.key, "UploadId": upload.upload_id}
        if upload.checksum_algorithm:
            out["ChecksumAlgorithm"] = upload.checksum_algorithm
            out["ChecksumType"] = upload.checksum_type
        return out

    @operation("UploadPart")
    async def upload_part(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        bucket, key, upload_id = request["Bucket"], request["Key"], request["UploadId"]
        number = request["PartNumber"]
        if not 1 <= number <= MAX_PART_NUMBER:
            raise InvalidArgument(f"Part number must be an integer between 1 and {MAX_PART_NUMBER}, inclusive",
                                  fields={"ArgumentName": "partNumber", "ArgumentValue": number})
        upload = self._upload_for_part(request)  # one indexed read, cheaper inline than a thread hop

        def commit(staged: StagedBlob, checksums: dict[str, str]) -> Part:
            return self.multipart.commit_part(bucket, key, upload_id, number, staged, checksums)

        part = await self.receive(ctx, request, commit, upload.checksum_algorithm)
        return {"ETag": part.etag, **wire.checksum_members(part.checksums)}

    def _upload_for_part(self, request: dict[str, Any]) -> Upload:
        if request.get("ExpectedBucketOwner") is not None:
            self.check_owner(self.store.bucket(request["Bucket"]), request["ExpectedBucketOwner"])
        return self.multipart.upload(request["Bucket"], request["Key"], request["UploadId"])

    @operation("CompleteMultipartUpload")
    def complete_multipart_upload(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        if request.get("ExpectedBucketOwner") is not None:
            self.bucket(ctx, request)
        spec = request.get("MultipartUpload") or {}
        refs = [PartRef(p.get("PartNumber", 0), p.get("ETag", ""),
                        {a: p[f"Checksum{a}"] for a in cks.KNOWN if p.get(f"Checksum{a}")})
                for p in spec.get("Parts") or []]
        declared = {a: request[f"Checksum{a}"] for a in cks.KNOWN if request.get(f"Checksum{a}")}
        done = self.multipart.complete(request["Bucket"], request["Key"], request["UploadId"], refs, declared)
        out: dict[str, Any] = {
            "Location": f"/{done.info.bucket}/{done.info.key}",
            "Bucket": done.info.bucket,
            "Key": done.info.key,
            "ETag": done.info.etag,
            **wire.checksum_members(done.checksums),
        }
        if done.checksum_type:
            out["ChecksumType"] = done.checksum_type
        return out

    @operation("AbortMultipartUpload")
    def abort_multipart_upload(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        if request.get("ExpectedBucketOwner") is not None:
            self.bucket(ctx, request)
        self.multipart.abort(request["Bucket"], request["Key"], request["UploadId"])
        return {}

    @operation("ListParts")
    def list_parts(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        if request.get("ExpectedBucketOwner") is not None:
            self.bucket(ctx, request)
        marker = request.get("PartNumberMarker") or 0
        limit = wire.max_keys(request.get("MaxParts"))
        upload, parts, truncated = self.multipart.parts(request["Bucket"], request["Key"], request["UploadId"],
                                                        after=marker, max_parts=limit)
        owner = wire.owner(ctx.scope.account_id)
        out: dict[str, Any] = {
            "Bucket": upload.bucket,
            "Key": upload.key,
            "UploadId": upload.upload_id,
            "PartNumberMarker": marker,
            "MaxParts": limit,
            "IsTruncated": truncated,
            "Parts": [{"PartNumber": p.part_number, "LastModified": p.last_modified, "ETag": p.etag,
                       "Size": p.size, **wire.checksum_members(p.checksums)} for p in parts] or None,
            "Initiator": owner,
            "Owner": owner,
            "StorageClass": "STANDARD",
        }
        if parts:
            out["NextPartNumberMarker"] = parts[-1].part_number
        if upload.checksum_algorithm:
            out["ChecksumAlgorithm"] = upload.checksum_algorithm
            out["ChecksumType"] = upload.checksum_type
        return out

    @operation("ListMultipartUploads")
    def list_multipart_uploads(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        if request.get("ExpectedBucketOwner") is not None:
            self.bucket(ctx, request)
        enc = wire.encoder(request.get("EncodingType"))
        prefix = request.get("Prefix") or ""
        delimiter = request.get("Delimiter") or None
        limit = wire.max_keys(request.get("MaxUploads"))
        uploads, truncated = self.multipart.uploads(
            request["Bucket"], prefix=prefix, key_marker=request.get("KeyMarker") or None,
            upload_id_marker=request.get("UploadIdMarker") or None, max_uploads=limit)
        owner = wire.owner(ctx.scope.account_id)
        listed: list[dict[str, Any]] = []
        prefixes: list[str] = []
        for u in uploads:
            rest = u.key[len(prefix):]
            if delimiter and delimiter in rest:
                cp = prefix + rest[: rest.index(delimiter) + len(delimiter)]
                if cp not in prefixes:
                    prefixes.append(cp)
                continue
            listed.append({"UploadId": u.upload_id, "Key": enc(u.key), "Initiated": u.initiated,
                           "StorageClass": "STANDARD", "Owner": owner, "Initiator": owner,
                           **({"ChecksumAlgorithm": u.checksum_algorithm, "ChecksumType": u.checksum_type}
                              if u.checksum_algorithm else {})})
        out: dict[str, Any] = {
            "Bucket": request["Bucket"],
            "KeyMarker": enc(request.get("KeyMarker") or ""),
            "UploadIdMarker": request.get("UploadIdMarker") or "",
            "Prefix": enc(prefix),
            "MaxUploads": limit,
            "IsTruncated": truncated,
            "Uploads": listed or None,
            "CommonPrefixes": [{"Prefix": enc(p)} for p in prefixes] or None,
        }
        if delimiter:
            out["Delimiter"] = enc(delimiter)
        if request.get("EncodingType"):
            out["EncodingType"] = request["EncodingType"]
        if truncated and uploads:
            out["NextKeyMarker"] = enc(uploads[-1].key)
            out["NextUploadIdMarker"] = uploads[-1].upload_id
        return out
