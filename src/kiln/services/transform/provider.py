"""SageMaker batch-transform operations. Translation only; the logic lives in TransformService,
the running jobs in the reconciler."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kiln.aws.context import RequestContext
from kiln.aws.dispatch import Provider, operation
from kiln.aws.errors import AwsError, ValidationException
from kiln.aws.pagination import listing
from kiln.core import errors as domain
from kiln.services.tags.store import TagStore
from kiln.services.transform import wire
from kiln.services.transform.service import TransformService

_SORT_KEYS: dict[str, Callable[[Any], Any]] = {"Name": lambda j: j.name, "CreationTime": lambda j: j.created_at,
                                               "Status": lambda j: j.status.value}


class TransformProvider(Provider):
    service = "sagemaker"

    def __init__(self, jobs: TransformService, tags: TagStore) -> None:
        self.jobs = jobs
        self.tags = tags

    def domain_errors(self, err: domain.DomainError) -> AwsError:
        if isinstance(err, domain.NotFound):  # DescribeTransformJob / StopTransformJob on an unknown name
            return ValidationException(err.message)
        return super().domain_errors(err)

    @operation("CreateTransformJob")
    def create_transform_job(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        job = self.jobs.create(ctx.scope, request)
        if request.get("Tags"):
            self.tags.add(job.arn, request["Tags"])
        return {"TransformJobArn": job.arn}

    @operation("DescribeTransformJob")
    def describe_transform_job(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        return wire.describe(self.jobs.get(ctx.scope, request["TransformJobName"]))

    @operation("StopTransformJob")
    def stop_transform_job(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        self.jobs.stop(ctx.scope, request["TransformJobName"])
        return {}

    @operation("ListTransformJobs")
    def list_transform_jobs(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        out, token = listing(self.jobs.repo.list(ctx.scope), request, wire.summary, _SORT_KEYS)
        return {"TransformJobSummaries": out, "NextToken": token}
