"""Transform-job rows <-> TransformJob, with compare-and-set on the status."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from kiln.core.errors import Conflict, NotFound
from kiln.core.jobs.lifecycle import JobStatus
from kiln.core.scope import Scope
from kiln.core.state.db import Database
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


def _key(scope: Scope, name: str) -> Any:
    return sa.and_(T.c.account_id == scope.account_id, T.c.region == scope.region, T.c.name == name)


class TransformJobRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def insert(self, job: TransformJob) -> bool:
        """False when a job of that name exists in the scope."""
        with self.db.tx() as conn:
            if conn.execute(sa.select(T.c.name).where(_key(job.scope, job.name))).first():
                return False
            conn.execute(T.insert().values(**_to_row(job)))
        return True

    def find(self, scope: Scope, name: str) -> TransformJob | None:
        with self.db.read() as conn:
            row = conn.execute(sa.select(T).where(_key(scope, name))).first()
        return None if row is None else _from_row(row)

    def get(self, scope: Scope, name: str) -> TransformJob:
        job = self.find(scope, name)
        if job is None:
            raise NotFound("TransformJob", name, f"Could not find requested job with name {name}")  # unverified
        return job

    def compare_and_set(self, job: TransformJob, expected: JobStatus) -> None:
        """Persist `job` if its stored status is still `expected`; else raise Conflict."""
        with self.db.tx() as conn:
            result = conn.execute(T.update().where(_key(job.scope, job.name), T.c.status == expected.value)
                                  .values(**_to_row(job)))
        if result.rowcount != 1:
            raise Conflict(f"transform job {job.name} changed concurrently")

    def list(self, scope: Scope | None = None, statuses: tuple[str, ...] = ()) -> Iterator[TransformJob]:
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
