"""SageMaker training-job operations. Translation only; the logic lives in TrainingService."""

from __future__ import annotations

from typing import Any

from kiln.aws.context import RequestContext
from kiln.aws.dispatch import Provider, operation
from kiln.aws.errors import (
    AwsError,
    ValidationException,
)
from kiln.aws.pagination import listing
from kiln.core import errors as domain
from kiln.services.tags.store import TagStore
from kiln.services.training import wire
from kiln.services.training.service import TrainingService

_SORT_KEYS = {"Name": lambda j: j.name, "CreationTime": lambda j: j.created_at, "Status": lambda j: j.status.value}


class TrainingProvider(Provider):
    service = "sagemaker"

    def __init__(self, jobs: TrainingService, tags: TagStore) -> None:
        self.jobs = jobs
        self.tags = tags

    def domain_errors(self, err: domain.DomainError) -> AwsError:
        if isinstance(err, domain.NotFound):  # what DescribeTrainingJob answers (and boto3's waiters expect)
            return ValidationException("Requested resource not found.")
        return super().domain_errors(err)

    @operation("CreateTrainingJob")
    def create_training_job(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        job = self.jobs.create(ctx.scope, request)
        if request.get("Tags"):
            self.tags.add(job.arn, request["Tags"])
        return {"TrainingJobArn": job.arn}

    @operation("DescribeTrainingJob")
    def describe_training_job(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        return wire.describe(self.jobs.get(ctx.scope, request["TrainingJobName"]))

    @operation("StopTrainingJob")
    def stop_training_job(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        self.jobs.stop(ctx.scope, request["TrainingJobName"])
        return {}

    @operation("ListTrainingJobs")
    def list_training_jobs(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        out, token = listing(self.jobs.repo.list(ctx.scope), request, wire.summary, _SORT_KEYS)
        return {"TrainingJobSummaries": out, "NextToken": token}
