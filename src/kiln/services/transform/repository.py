"""Transform-job rows <-> TransformJob, with compare-and-set on the status."""

from __future__ import annotations

from typing import Any

from kiln.core.errors import NotFound
from kiln.core.jobs.lifecycle import JobStatus
from kiln.core.jobs.repository import JobRepository
from kiln.core.scope import Scope
from kiln.services.transform.models import TransformJob
from kiln.services.transform.tables import transform_jobs as T


def _to_row(job: TransformJob) -> dict[str, Any]:
    return {
        "account_id": job.scope.account_id, "region": job.scope.region, "name": job.name, "arn": job.arn,
        "spec": job.spec, "status": job.status.value, "failure_reason": job.failure_reason,
        "created_at": job.created_at, "modified_at": job.modified_at, "transform_start": job.transform_start,
        "transform_end": job.transform_end, "started": job.started, "stats": job.stats, "tags": job.tags,
    }


def _from_row(row: Any) -> TransformJob:
    m = row._mapping
    return TransformJob(
        scope=Scope(m["account_id"], m["region"]), name=m["name"], arn=m["arn"], spec=m["spec"],
        status=JobStatus(m["status"]), created_at=m["created_at"], modified_at=m["modified_at"],
        failure_reason=m["failure_reason"], transform_start=m["transform_start"], transform_end=m["transform_end"],
        started=bool(m["started"]), stats=dict(m["stats"] or {}), tags=list(m["tags"] or []),
    )


class TransformJobRepository(JobRepository[TransformJob]):
    table = T
    kind = "transform job"

    def to_row(self, job: TransformJob) -> dict[str, Any]:
        return _to_row(job)

    def from_row(self, row: Any) -> TransformJob:
        return _from_row(row)

    def not_found(self, name: str) -> NotFound:
        return NotFound("TransformJob", name, f"Could not find requested job with name {name}")  # unverified
