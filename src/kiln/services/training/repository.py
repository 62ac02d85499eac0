"""Training-job rows <-> TrainingJob, with compare-and-set on the status."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from kiln.core.errors import Conflict, NotFound
from kiln.core.jobs.lifecycle import JobStatus, SecondaryStatus
from kiln.core.scope import Scope
from kiln.core.state.db import Database
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


def _key(scope: Scope, name: str) -> Any:
    return sa.and_(T.c.account_id == scope.account_id, T.c.region == scope.region, T.c.name == name)


class TrainingJobRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def insert(self, job: TrainingJob) -> bool:
        """False when a job of that name exists in the scope."""
        with self.db.tx() as conn:
            if conn.execute(sa.select(T.c.name).where(_key(job.scope, job.name))).first():
                return False
            conn.execute(T.insert().values(**_to_row(job)))
        return True

    def get(self, scope: Scope, name: str) -> TrainingJob:
        with self.db.read() as conn:
            row = conn.execute(sa.select(T).where(_key(scope, name))).first()
        if row is None:
            raise NotFound("TrainingJob", name, f"Requested resource not found: training job {name}")
        return _from_row(row)

    def compare_and_set(self, job: TrainingJob, expected: JobStatus) -> None:
        """Persist `job` if its stored status is still `expected`; else raise Conflict."""
        row = _to_row(job)
        with self.db.tx() as conn:
            result = conn.execute(T.update().where(_key(job.scope, job.name), T.c.status == expected.value)
                                  .values(**row))
        if result.rowcount != 1:
            raise Conflict(f"training job {job.name} changed concurrently")

    def list(self, scope: Scope | None = None, statuses: tuple[str, ...] = ()) -> Iterator[TrainingJob]:
        q = sa.select(T).order_by(T.c.created_at)
        if scope is not None:
            q = q.where(T.c.account_id == scope.account_id, T.c.region == scope.region)
        if statuses:
            q = q.where(T.c.status.in_(statuses))
        with self.db.read() as conn:
            rows = conn.execute(q).all()
        return (_from_row(r) for r in rows)

    def count(self) -> int:
        with self.db.read() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(T)).scalar_one())
