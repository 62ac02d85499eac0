"""Rows of one job table <-> job objects, the part every job kind shares (training, tuning, transform).

A job is unique by (account, region, name); every write after the insert is compare-and-set on the
status, so two writers (an API call and a runner) never overwrite each other silently. Subclasses name
the table, the row codecs, and the service's not-found answer; their own queries go beside these.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import sqlalchemy as sa

from kiln.core.errors import Conflict, NotFound
from kiln.core.scope import Scope
from kiln.core.state.db import Database


class _Job(Protocol):
    scope: Scope
    name: str

    @property
    def status(self) -> Any: ...


J = TypeVar("J", bound=_Job)


class JobRepository(Generic[J]):
    """Thread-safe: every call is its own transaction."""

    table: ClassVar[sa.Table]
    kind: ClassVar[str]  # "training job": used in conflict messages

    def __init__(self, db: Database) -> None:
        self.db = db

    # What a subclass gives -----------------------------------------------------------------------
    def to_row(self, job: J) -> dict[str, Any]:
        raise NotImplementedError

    def from_row(self, row: Any) -> J:
        raise NotImplementedError

    def not_found(self, name: str) -> NotFound:
        raise NotImplementedError

    # Shared --------------------------------------------------------------------------------------
    def key(self, scope: Scope, name: str) -> Any:
        c = self.table.c
        return sa.and_(c.account_id == scope.account_id, c.region == scope.region, c.name == name)

    def insert(self, job: J) -> bool:
        """False when a job of that name exists in the scope."""
        with self.db.tx() as conn:
            if conn.execute(sa.select(self.table.c.name).where(self.key(job.scope, job.name))).first():
                return False
            conn.execute(self.table.insert().values(**self.to_row(job)))
        return True

    def find(self, scope: Scope, name: str) -> J | None:
        with self.db.read() as conn:
            row = conn.execute(sa.select(self.table).where(self.key(scope, name))).first()
        return None if row is None else self.from_row(row)

    def get(self, scope: Scope, name: str) -> J:
        job = self.find(scope, name)
        if job is None:
            raise self.not_found(name)
        return job

    def compare_and_set(self, job: J, expected: Enum) -> None:
        """Persist `job` if its stored status is still `expected`; else raise Conflict."""
        row = self.to_row(job)
        with self.db.tx() as conn:
            result = conn.execute(self.table.update().where(self.key(job.scope, job.name),
                                                            self.table.c.status == expected.value).values(**row))
        if result.rowcount != 1:
            raise Conflict(f"{self.kind} {job.name} changed concurrently")

    def apply(self, job: J, change: Callable[[J], None], attempts: int = 5) -> J:
        """`change(job)` (which checks the move is legal and raises if not), then compare-and-set on the
        status it had; on a lost race, reload and change it again. Each service's one status writer."""
        for _ in range(attempts):
            expected = job.status
            change(job)
            try:
                self.compare_and_set(job, expected)
                return job
            except Conflict:
                job = self.get(job.scope, job.name)
        raise Conflict(f"{self.kind} {job.name}: too many concurrent updates")

    def list(self, scope: Scope | None = None, statuses: tuple[str, ...] = ()) -> list[J]:
        q = sa.select(self.table).order_by(self.table.c.created_at)
        if scope is not None:
            q = q.where(self.table.c.account_id == scope.account_id, self.table.c.region == scope.region)
        if statuses:
            q = q.where(self.table.c.status.in_(statuses))
        with self.db.read() as conn:
            rows = conn.execute(q).all()
        return [self.from_row(r) for r in rows]

    def count(self) -> int:
        with self.db.read() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(self.table)).scalar_one())
