"""S3 operations: translation between the wire (model members) and the object store.

Split by resource: buckets here, objects in `provider_objects.py`, multipart uploads in
`provider_multipart.py`; `S3Provider` joins them into the one provider of service `s3`.
"""

from __future__ import annotations

from typing import Any

from kiln.aws.context import RequestContext
from kiln.aws.dispatch import operation
from kiln.aws.errors import AwsError
from kiln.core import errors as domain
from kiln.services.s3 import wire
from kiln.services.s3.base import S3Base
from kiln.services.s3.errors import to_aws
from kiln.services.s3.models import BucketOwnedByYou
from kiln.services.s3.multipart import Multipart
from kiln.services.s3.provider_multipart import MultipartOperations
from kiln.services.s3.provider_objects import ObjectOperations
from kiln.services.s3.store import ObjectStore


class BucketOperations(S3Base):
    @operation("CreateBucket")
    def create_bucket(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        name = request["Bucket"]
        config = request.get("CreateBucketConfiguration") or {}
        region = config.get("LocationConstraint") or ctx.scope.region
        if region == "EU":
            region = "eu-west-1"
        try:
            self.store.create_bucket(name, ctx.scope.account_id, region)
        except BucketOwnedByYou:
            # S3's legacy us-east-1 behaviour: re-creating a bucket you own there answers 200.
            if region != "us-east-1" or self.store.bucket(name).region != "us-east-1":
                raise
        return {"Location": f"/{name}", "BucketArn": f"arn:aws:s3:::{name}"}

    @operation("HeadBucket")
    def head_bucket(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        bucket = self.bucket(ctx, request)
        return {"BucketRegion": bucket.region, "AccessPointAlias": False,
                "BucketArn": f"arn:aws:s3:::{bucket.name}"}

    @operation("ListBuckets")
    def list_buckets(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        prefix = request.get("Prefix") or ""
        after = request.get("ContinuationToken")
        region = request.get("BucketRegion")
        limit = wire.max_keys(request.get("MaxBuckets"), 10_000)
        found = [b for b in self.store.buckets(ctx.scope.account_id)
                 if b.name.startswith(prefix) and (after is None or b.name > after)
                 and (region is None or b.region == region)]
        page = found[:limit]
        out: dict[str, Any] = {
            "Buckets": [{"Name": b.name, "CreationDate": b.created, "BucketRegion": b.region,
                         "BucketArn": f"arn:aws:s3:::{b.name}"} for b in page],
            "Owner": wire.owner(ctx.scope.account_id),
        }
        if prefix:
            out["Prefix"] = prefix
        if len(found) > limit:
            out["ContinuationToken"] = page[-1].name
        return out

    @operation("DeleteBucket")
    def delete_bucket(self, ctx: RequestContext, request: dict[str, Any]) -> None:
        bucket = self.bucket(ctx, request)
        self.store.delete_bucket(bucket.name)

    @operation("GetBucketLocation")
    def get_bucket_location(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        bucket = self.bucket(ctx, request)
        return {"LocationConstraint": None if bucket.region == "us-east-1" else bucket.region}


class S3Provider(BucketOperations, ObjectOperations, MultipartOperations):
    """Kiln's S3: buckets, objects and multipart uploads on the local object store."""

    service = "s3"

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self.multipart = Multipart(store)

    def domain_errors(self, err: domain.DomainError) -> AwsError:
        return to_aws(err)
