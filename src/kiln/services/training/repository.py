"""Training-job rows <-> TrainingJob, with compare-and-set on the status."""

from __future__ import annotations

from typing import Any

from kiln.core.errors import NotFound
from kiln.core.jobs.lifecycle import JobStatus, SecondaryStatus
from kiln.core.jobs.repository import JobRepository
from kiln.core.scope import Scope
from kiln.services.training.models import TrainingJob, Transition
from kiln.services.training.tables import training_jobs as T


def _to_row(job: TrainingJob) -> dict[str, Any]:
    return {
        "account_id": job.scope.account_id, "region": job.scope.region, "name": job.name, "arn": job.arn,
        "spec": job.spec, "status": job.status.value, "secondary_status": job.secondary_status.value,
        "transitions": [[t.status, t.start, t.message, t.end] for t in job.transitions],
        "failure_reason": job.failure_reason, "created_at": job.created_at, "modified_at": job.modified_at,
        "training_start": job.training_start, "training_end": job.training_end,
        "running_seconds": job.running_seconds, "billable_seconds": job.billable_seconds,
        "model_artifacts": job.model_artifacts, "final_metrics": job.final_metrics, "attempts": job.attempts,
        "interruptions": job.interruptions, "stop_requested": job.stop_requested,
        "interrupt_requested": job.interrupt_requested, "tuning_job_arn": job.tuning_job_arn, "tags": job.tags,
    }


def _from_row(row: Any) -> TrainingJob:
    m = row._mapping
    return TrainingJob(
        scope=Scope(m["account_id"], m["region"]), name=m["name"], arn=m["arn"], spec=m["spec"],
        status=JobStatus(m["status"]), secondary_status=SecondaryStatus(m["secondary_status"]),
        transitions=[Transition(s, start, msg, end) for s, start, msg, end in m["transitions"]],
        created_at=m["created_at"], modified_at=m["modified_at"], failure_reason=m["failure_reason"],
        training_start=m["training_start"], training_end=m["training_end"],
        running_seconds=m["running_seconds"] or 0.0, billable_seconds=m["billable_seconds"] or 0.0,
        model_artifacts=m["model_artifacts"], final_metrics=list(m["final_metrics"] or []),
        attempts=m["attempts"] or 0, interruptions=m["interruptions"] or 0,
        stop_requested=bool(m["stop_requested"]), interrupt_requested=bool(m["interrupt_requested"]),
        tuning_job_arn=m["tuning_job_arn"], tags=list(m["tags"] or []),
    )


class TrainingJobRepository(JobRepository[TrainingJob]):
    table = T
    kind = "training job"

    def to_row(self, job: TrainingJob) -> dict[str, Any]:
        return _to_row(job)

    def from_row(self, row: Any) -> TrainingJob:
        return _from_row(row)

    def not_found(self, name: str) -> NotFound:
        return NotFound("TrainingJob", name, f"Requested resource not found: training job {name}")
