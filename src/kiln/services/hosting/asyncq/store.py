"""The durable async-inference queue: one row per InvokeEndpointAsync request, in Kiln's database.

A row moves `Pending -> InProgress -> Completed | Failed` (and `Pending -> Failed` when its
RequestTTLSeconds runs out). Every move is a compare-and-set on the old status, so a request is
claimed by one worker only. The worker writes the output (or failure) object *before* it records
the end, and the notification is published after the end is recorded (`notified` tracks it).

After a crash, `recover()` looks at the rows left `InProgress`: one whose output or failure object
was written after it was claimed is finished as that; any other goes back to `Pending`, so it is
answered once, by the next worker. Rows finished but not yet notified are notified again.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import sqlalchemy as sa

from kiln.core.scope import Scope
from kiln.core.state.db import METADATA, Database, Migration, create_tables

EndpointKey = tuple[str, str, str]  # account, region, endpoint name


class RequestStatus(StrEnum):
    PENDING = "Pending"
    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"
    FAILED = "Failed"


requests = sa.Table(
    "hosting_async_requests", METADATA,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("account_id", sa.String(12), nullable=False),
    sa.Column("region", sa.String(32), nullable=False),
    sa.Column("endpoint", sa.String(63), nullable=False),
    sa.Column("inference_id", sa.String(64), nullable=False),
    sa.Column("input_location", sa.String(1024)),
    sa.Column("body", sa.LargeBinary),
    sa.Column("content_type", sa.String(1024)),
    sa.Column("accept", sa.String(1024)),
    sa.Column("custom_attributes", sa.String(1024)),
    sa.Column("output_location", sa.String(1200), nullable=False),
    sa.Column("failure_location", sa.String(1200)),
    sa.Column("settings", sa.JSON, nullable=False),  # AsyncSettings at enqueue time (topics, paths)
    sa.Column("received_at", sa.Float, nullable=False),
    sa.Column("ttl_seconds", sa.Integer, nullable=False),
    sa.Column("timeout_seconds", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("claimed_at", sa.Float),
    sa.Column("finished_at", sa.Float),
    sa.Column("failure_reason", sa.Text),
    sa.Column("output_content_type", sa.String(1024)),
    sa.Column("notified", sa.Boolean, nullable=False, default=False),
    sa.Index("ix_hosting_async_requests_queue", "status", "account_id", "region", "endpoint", "received_at"),
)

MIGRATIONS = [Migration("hosting-async-0001-requests", create_tables(requests))]
S = RequestStatus


@dataclass(slots=True)
class AsyncRequest:
    id: str
    scope: Scope
    endpoint: str
    inference_id: str
    input_location: str | None
    body: bytes | None
    content_type: str | None
    accept: str | None
    custom_attributes: str | None
    output_location: str
    failure_location: str | None
    settings: dict[str, Any]
    received_at: float
    ttl_seconds: int
    timeout_seconds: int
    status: RequestStatus = S.PENDING
    attempts: int = 0
    claimed_at: float | None = None
    finished_at: float | None = None
    failure_reason: str | None = None
    output_content_type: str | None = None
    notified: bool = False

    @property
    def key(self) -> EndpointKey:
        return (self.scope.account_id, self.scope.region, self.endpoint)


def _row(r: Any) -> AsyncRequest:
    return AsyncRequest(r.id, Scope(r.account_id, r.region), r.endpoint, r.inference_id, r.input_location, r.body,
                        r.content_type, r.accept, r.custom_attributes, r.output_location, r.failure_location,
                        dict(r.settings), r.received_at, r.ttl_seconds, r.timeout_seconds, S(r.status), r.attempts,
                        r.claimed_at, r.finished_at, r.failure_reason, r.output_content_type, bool(r.notified))


def _where(key: EndpointKey) -> Any:
    return sa.and_(requests.c.account_id == key[0], requests.c.region == key[1], requests.c.endpoint == key[2])


@dataclass(frozen=True, slots=True)
class Backlog:
    pending: int
    in_progress: int
    oldest: float | None  # received_at of the oldest request not yet answered

    @property
    def size(self) -> int:
        return self.pending + self.in_progress


class AsyncQueue:
    def __init__(self, db: Database) -> None:
        self.db = db

    def enqueue(self, r: AsyncRequest) -> None:
        with self.db.tx() as conn:
            conn.execute(requests.insert().values(
                id=r.id, account_id=r.scope.account_id, region=r.scope.region, endpoint=r.endpoint,
                inference_id=r.inference_id, input_location=r.input_location, body=r.body,
                content_type=r.content_type, accept=r.accept, custom_attributes=r.custom_attributes,
                output_location=r.output_location, failure_location=r.failure_location, settings=r.settings,
                received_at=r.received_at, ttl_seconds=r.ttl_seconds, timeout_seconds=r.timeout_seconds,
                status=S.PENDING.value, attempts=0, notified=False))

    def get(self, request_id: str) -> AsyncRequest | None:
        with self.db.read() as conn:
            row = conn.execute(sa.select(requests).where(requests.c.id == request_id)).first()
        return _row(row) if row else None

    def waiting_endpoints(self) -> list[EndpointKey]:
        """Endpoints with at least one Pending request."""
        q = (sa.select(requests.c.account_id, requests.c.region, requests.c.endpoint)
             .where(requests.c.status == S.PENDING.value).distinct())
        with self.db.read() as conn:
            return [(r[0], r[1], r[2]) for r in conn.execute(q).all()]

    def claim(self, key: EndpointKey, limit: int, now: float) -> list[AsyncRequest]:
        """Move up to `limit` of the endpoint's oldest Pending requests to InProgress (one transaction)."""
        if limit <= 0:
            return []
        with self.db.tx() as conn:
            rows = conn.execute(sa.select(requests).where(_where(key), requests.c.status == S.PENDING.value)
                                .order_by(requests.c.received_at, requests.c.id).limit(limit)).all()
            claimed = []
            for row in rows:
                done = conn.execute(requests.update().where(requests.c.id == row.id,
                                                            requests.c.status == S.PENDING.value)
                                    .values(status=S.IN_PROGRESS.value, claimed_at=now,
                                            attempts=requests.c.attempts + 1)).rowcount
                if done:
                    r = _row(row)
                    r.status, r.claimed_at, r.attempts = S.IN_PROGRESS, now, r.attempts + 1
                    claimed.append(r)
        return claimed

    def release(self, request_id: str) -> bool:
        """InProgress -> Pending (its replica went away before answering)."""
        with self.db.tx() as conn:
            return bool(conn.execute(requests.update().where(requests.c.id == request_id,
                                                             requests.c.status == S.IN_PROGRESS.value)
                                     .values(status=S.PENDING.value, claimed_at=None)).rowcount)

    def finish(self, request_id: str, status: RequestStatus, now: float, *, failure_reason: str | None = None,
               content_type: str | None = None, expected: RequestStatus = S.IN_PROGRESS) -> bool:
        with self.db.tx() as conn:
            return bool(conn.execute(requests.update().where(requests.c.id == request_id,
                                                             requests.c.status == expected.value)
                                     .values(status=status.value, finished_at=now, failure_reason=failure_reason,
                                             output_content_type=content_type)).rowcount)

    def mark_notified(self, request_id: str) -> None:
        with self.db.tx() as conn:
            conn.execute(requests.update().where(requests.c.id == request_id).values(notified=True))

    def expired(self, now: float) -> list[AsyncRequest]:
        """Pending requests whose RequestTTLSeconds has run out."""
        q = sa.select(requests).where(requests.c.status == S.PENDING.value,
                                      requests.c.received_at + requests.c.ttl_seconds < now)
        with self.db.read() as conn:
            return [_row(r) for r in conn.execute(q).all()]

    def in_progress(self) -> list[AsyncRequest]:
        with self.db.read() as conn:
            return [_row(r) for r in conn.execute(sa.select(requests).where(
                requests.c.status == S.IN_PROGRESS.value)).all()]

    def unnotified(self) -> list[AsyncRequest]:
        q = sa.select(requests).where(requests.c.status.in_((S.COMPLETED.value, S.FAILED.value)),
                                      requests.c.notified.is_(False))
        with self.db.read() as conn:
            return [_row(r) for r in conn.execute(q).all()]

    def backlog(self) -> dict[EndpointKey, Backlog]:
        """Per endpoint with unanswered requests: Pending and InProgress counts, oldest receipt."""
        q = (sa.select(requests.c.account_id, requests.c.region, requests.c.endpoint, requests.c.status,
                       sa.func.count(), sa.func.min(requests.c.received_at))
             .where(requests.c.status.in_((S.PENDING.value, S.IN_PROGRESS.value)))
             .group_by(requests.c.account_id, requests.c.region, requests.c.endpoint, requests.c.status))
        acc: dict[EndpointKey, list[Any]] = {}
        with self.db.read() as conn:
            for account, region, endpoint, status, count, oldest in conn.execute(q).all():
                a = acc.setdefault((account, region, endpoint), [0, 0, None])
                a[0 if status == S.PENDING.value else 1] += int(count)
                a[2] = oldest if a[2] is None else min(a[2], oldest)
        return {k: Backlog(v[0], v[1], v[2]) for k, v in acc.items()}

    def count(self, key: EndpointKey, status: RequestStatus) -> int:
        q = sa.select(sa.func.count()).select_from(requests).where(_where(key), requests.c.status == status.value)
        with self.db.read() as conn:
            return int(conn.execute(q).scalar_one())
