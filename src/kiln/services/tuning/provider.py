"""SageMaker hyperparameter-tuning operations. Translation only; the logic lives in TuningService."""

from __future__ import annotations

from typing import Any

from kiln.aws.context import RequestContext
from kiln.aws.dispatch import Provider, operation
from kiln.aws.pagination import listing, page
from kiln.core import clock
from kiln.services.tags.store import TagStore
from kiln.services.tuning import views, wire
from kiln.services.tuning.models import TuningJob
from kiln.services.tuning.service import TuningService

_JOB_SORT = {"Name": lambda j: j.name, "CreationTime": lambda j: j.created_at, "Status": lambda j: j.status.value}
_TRIAL_SORT = {"Name": lambda s: s.training_job, "CreationTime": lambda s: s.created_at,
               "Status": lambda s: s.status, "FinalObjectiveMetricValue": lambda s: s.value}


class TuningProvider(Provider):
    service = "sagemaker"

    def __init__(self, tuning: TuningService, tags: TagStore) -> None:
        self.tuning = tuning
        self.tags = tags

    @operation("CreateHyperParameterTuningJob")
    def create_hyper_parameter_tuning_job(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        job = self.tuning.create(ctx.scope, request)
        if request.get("Tags"):
            self.tags.add(job.arn, request["Tags"])
        return {"HyperParameterTuningJobArn": job.arn}

    @operation("DescribeHyperParameterTuningJob")
    def describe_hyper_parameter_tuning_job(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        job = self.tuning.get(ctx.scope, request["HyperParameterTuningJobName"])
        items = self.tuning.summaries(job)
        best = views.best(items)
        overall = views.best(items + self.tuning.parent_summaries(job)) if job.spec.get("WarmStartConfig") else None
        return wire.describe(job, self._total(job), views.counters(items), best, overall, clock.epoch())

    @operation("ListHyperParameterTuningJobs")
    def list_hyper_parameter_tuning_jobs(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        defaults = {"SortBy": "Name", "SortOrder": "Ascending"}  # unlike the other List* calls
        out, token = listing(self.tuning.repo.list(ctx.scope), {**defaults, **request},
                             lambda j: wire.summary(j, self._total(j), views.counters(self.tuning.summaries(j))),
                             _JOB_SORT)
        return {"HyperParameterTuningJobSummaries": out, "NextToken": token}

    @operation("ListTrainingJobsForHyperParameterTuningJob")
    def list_training_jobs_for_hyper_parameter_tuning_job(self, ctx: RequestContext,
                                                          request: dict[str, Any]) -> dict[str, Any]:
        r = request
        items = self.tuning.summaries(self.tuning.get(ctx.scope, r["HyperParameterTuningJobName"]))
        if "StatusEquals" in r:
            items = [s for s in items if s.status == r["StatusEquals"]]
        sort_by = r.get("SortBy", "Name")
        if sort_by == "FinalObjectiveMetricValue":
            items = [s for s in items if s.value is not None]
        items.sort(key=_TRIAL_SORT[sort_by], reverse=r.get("SortOrder", "Ascending") == "Descending")
        chunk, token = page(items, r.get("NextToken"), r.get("MaxResults"))
        return {"TrainingJobSummaries": [wire.trial_summary(s) for s in chunk], "NextToken": token}

    @operation("StopHyperParameterTuningJob")
    def stop_hyper_parameter_tuning_job(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        self.tuning.stop(ctx.scope, request["HyperParameterTuningJobName"])
        return {}

    @operation("DeleteHyperParameterTuningJob")
    def delete_hyper_parameter_tuning_job(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        self.tuning.delete(ctx.scope, request["HyperParameterTuningJobName"])
        return {}

    def _total(self, job: TuningJob) -> int:
        return self.tuning.space(job)[1]
