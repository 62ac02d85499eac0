"""Tuning-job and trial rows <-> domain objects. Tuning-job writes are compare-and-set on the status."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from kiln.core.errors import NotFound
from kiln.core.jobs.repository import JobRepository
from kiln.core.scope import Scope
from kiln.services.tuning.models import StopReason, Trial, TuningJob, TuningStatus, Verdict
from kiln.services.tuning.tables import tuning_jobs as J
from kiln.services.tuning.tables import tuning_trials as T


def _job_row(job: TuningJob) -> dict[str, Any]:
    return {
        "account_id": job.scope.account_id, "region": job.scope.region, "name": job.name, "arn": job.arn,
        "spec": job.spec, "status": job.status.value, "created_at": job.created_at,
        "modified_at": job.modified_at, "ended_at": job.ended_at, "seed": job.seed,
        "failure_reason": job.failure_reason, "stop_reason": job.stop_reason.value if job.stop_reason else None,
        "not_improving": job.not_improving, "converged_at": job.converged_at, "tags": job.tags,
    }


def _job(row: Any) -> TuningJob:
    m = row._mapping
    return TuningJob(
        scope=Scope(m["account_id"], m["region"]), name=m["name"], arn=m["arn"], spec=m["spec"],
        status=TuningStatus(m["status"]), created_at=m["created_at"], modified_at=m["modified_at"],
        ended_at=m["ended_at"], seed=m["seed"], failure_reason=m["failure_reason"],
        stop_reason=StopReason(m["stop_reason"]) if m["stop_reason"] else None,
        not_improving=m["not_improving"] or 0, converged_at=m["converged_at"], tags=list(m["tags"] or []),
    )


def _trial_row(t: Trial) -> dict[str, Any]:
    return {
        "account_id": t.scope.account_id, "region": t.scope.region, "tuning_job": t.tuning_job,
        "number": t.number, "attempt": t.attempt, "training_job": t.training_job, "definition": t.definition,
        "params": t.params, "tuned": t.tuned, "created_at": t.created_at, "verdict": t.verdict.value,
        "value": t.value, "intermediate": t.intermediate, "system_attrs": t.system_attrs,
        "early_stopped": t.early_stopped, "stop_requested": t.stop_requested,
    }


def _trial(row: Any) -> Trial:
    m = row._mapping
    return Trial(
        scope=Scope(m["account_id"], m["region"]), tuning_job=m["tuning_job"], number=m["number"],
        attempt=m["attempt"], training_job=m["training_job"], definition=m["definition"],
        params=dict(m["params"] or {}), tuned=dict(m["tuned"] or {}), created_at=m["created_at"],
        verdict=Verdict(m["verdict"]), value=m["value"], intermediate=list(m["intermediate"] or []),
        system_attrs=dict(m["system_attrs"] or {}), early_stopped=bool(m["early_stopped"]),
        stop_requested=bool(m["stop_requested"]),
    )


def _trial_key(t: Trial) -> Any:
    return sa.and_(T.c.account_id == t.scope.account_id, T.c.region == t.scope.region,
                   T.c.tuning_job == t.tuning_job, T.c.number == t.number, T.c.attempt == t.attempt)


class TuningRepository(JobRepository[TuningJob]):
    """Tuning jobs (the shared job calls) and their trials. Thread-safe (every call is its own transaction)."""

    table = J
    kind = "tuning job"

    def to_row(self, job: TuningJob) -> dict[str, Any]:
        return _job_row(job)

    def from_row(self, row: Any) -> TuningJob:
        return _job(row)

    def not_found(self, name: str) -> NotFound:
        return NotFound("HyperParameterTuningJob", name, f"Amazon SageMaker can't find a tuning job with name {name}")

    # -- trials -------------------------------------------------------------------------------
    def add_trial(self, trial: Trial) -> None:
        with self.db.tx() as conn:
            conn.execute(T.insert().values(**_trial_row(trial)))

    def save_trial(self, trial: Trial) -> None:
        with self.db.tx() as conn:
            conn.execute(T.update().where(_trial_key(trial)).values(**_trial_row(trial)))

    def trials(self, scope: Scope, tuning_job: str) -> list[Trial]:
        """Every attempt of every trial, by (number, attempt)."""
        q = (sa.select(T).where(T.c.account_id == scope.account_id, T.c.region == scope.region,
                                T.c.tuning_job == tuning_job).order_by(T.c.number, T.c.attempt))
        with self.db.read() as conn:
            return [_trial(r) for r in conn.execute(q).all()]

    def delete(self, scope: Scope, name: str) -> None:
        with self.db.tx() as conn:
            conn.execute(T.delete().where(T.c.account_id == scope.account_id, T.c.region == scope.region,
                                          T.c.tuning_job == name))
            conn.execute(J.delete().where(self.key(scope, name)))
