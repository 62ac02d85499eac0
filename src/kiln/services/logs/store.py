"""LogStore: CloudWatch-style log groups, streams and events over the state store.

Kiln's own writers (training, processing, transform jobs, endpoints) call `ensure_stream` once
and then `put_events` for every batch of lines; the `logs` provider serves the same data to
boto3 and the SageMaker SDK.

Contract:
    * Thread-safe: every method opens its own transaction; `put_events` is one transaction per
      call however many events it carries (batch lines for throughput).
    * Events keep append order. `seq` numbers them 1, 2, ... per stream; reads page by `seq`.
    * Raises `kiln.core.errors.NotFound` (kind "log group" / "log stream") and `AlreadyExists`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from kiln.core import clock
from kiln.core.errors import AlreadyExists, NotFound
from kiln.core.scope import Scope
from kiln.core.state.db import Database
from kiln.services.logs.models import FilteredEvent, FilterPage, LogEvent, LogGroup, LogStream
from kiln.services.logs.tables import EVENTS, GROUPS, STREAMS

__all__ = ["FilterPage", "FilteredEvent", "LogEvent", "LogGroup", "LogStore", "LogStream"]

GROUP = "log group"
STREAM = "log stream"
_GROUP_MISSING = "The specified log group does not exist."
_STREAM_MISSING = "The specified log stream does not exist."
_FILTER_CHUNK = 1000

# The append path's statements, built once (constructing SQLAlchemy expressions per call would cost
# more than running them).
_FIRST, _LAST = STREAMS.c.first_event_ms, STREAMS.c.last_event_ms
_LOW, _HIGH = sa.bindparam("low"), sa.bindparam("high")
_BUMP = STREAMS.update().where(STREAMS.c.id == sa.bindparam("sid")).values(
    last_seq=STREAMS.c.last_seq + sa.bindparam("n"),
    first_event_ms=sa.case((sa.or_(_FIRST.is_(None), _FIRST > _LOW), _LOW), else_=_FIRST),
    last_event_ms=sa.case((sa.or_(_LAST.is_(None), _LAST < _HIGH), _HIGH), else_=_LAST),
    last_ingestion_ms=sa.bindparam("now"),
    stored_bytes=STREAMS.c.stored_bytes + sa.bindparam("size"))
_LAST_SEQ = sa.select(STREAMS.c.last_seq).where(STREAMS.c.id == sa.bindparam("sid"))
_INSERT = EVENTS.insert()


def _group_missing(name: str) -> NotFound:
    return NotFound(GROUP, name, _GROUP_MISSING)


def _stream_missing(name: str) -> NotFound:
    return NotFound(STREAM, name, _STREAM_MISSING)


def _in_group(scope: Scope, group: str) -> Any:
    return sa.and_(GROUPS.c.account_id == scope.account_id, GROUPS.c.region == scope.region,
                   GROUPS.c.name == group)


def _to_event(row: Any) -> LogEvent:
    return LogEvent(row.seq, row.timestamp, row.ingestion_ms, row.message)


def _to_stream(group: str, row: Any) -> LogStream:
    return LogStream(group, row.name, row.created_ms, row.first_event_ms, row.last_event_ms,
                     row.last_ingestion_ms, row.stored_bytes, row.last_seq)


class LogStore:
    """Log groups, streams and events of every account and region, in the Kiln database."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._ids: dict[tuple[str, str, str, str], int] = {}  # (account, region, group, stream) -> id

    # -- groups -------------------------------------------------------------------------------

    def create_group(self, scope: Scope, group: str, *, kms_key_id: str | None = None,
                     group_class: str = "STANDARD") -> LogGroup:
        now = clock.millis()
        with self.db.tx() as conn:
            if self._group_id(conn, scope, group) is not None:
                raise AlreadyExists(GROUP, group, "The specified log group already exists")
            conn.execute(GROUPS.insert().values(account_id=scope.account_id, region=scope.region, name=group,
                                                created_ms=now, kms_key_id=kms_key_id,
                                                group_class=group_class))
        return LogGroup(scope, group, now, 0, kms_key_id, group_class)

    def delete_group(self, scope: Scope, group: str) -> None:
        self._ids.clear()
        with self.db.tx() as conn:
            group_id = self._group_id(conn, scope, group)
            if group_id is None:
                raise _group_missing(group)
            streams = sa.select(STREAMS.c.id).where(STREAMS.c.group_id == group_id)
            conn.execute(EVENTS.delete().where(EVENTS.c.stream_id.in_(streams)))
            conn.execute(STREAMS.delete().where(STREAMS.c.group_id == group_id))
            conn.execute(GROUPS.delete().where(GROUPS.c.id == group_id))

    def list_groups(self, scope: Scope, *, prefix: str | None = None, contains: str | None = None,
                    names: Sequence[str] | None = None, after: str | None = None,
                    limit: int = 50) -> list[LogGroup]:
        """Groups in name order, starting after the name `after`. `contains` ignores case."""
        sizes = (sa.select(STREAMS.c.group_id, sa.func.sum(STREAMS.c.stored_bytes).label("bytes"))
                 .group_by(STREAMS.c.group_id).subquery())
        query = (sa.select(GROUPS, sa.func.coalesce(sizes.c.bytes, 0).label("bytes"))
                 .outerjoin(sizes, sizes.c.group_id == GROUPS.c.id)
                 .where(GROUPS.c.account_id == scope.account_id, GROUPS.c.region == scope.region)
                 .order_by(GROUPS.c.name).limit(limit))
        if prefix:
            query = query.where(GROUPS.c.name.startswith(prefix, autoescape=True))
        if contains:
            query = query.where(sa.func.lower(GROUPS.c.name).contains(contains.lower(), autoescape=True))
        if names is not None:
            query = query.where(GROUPS.c.name.in_(list(names)))
        if after is not None:
            query = query.where(GROUPS.c.name > after)
        with self.db.read() as conn:
            return [LogGroup(scope, r.name, r.created_ms, int(r.bytes), r.kms_key_id, r.group_class,
                             r.retention_days) for r in conn.execute(query)]

    # -- streams ------------------------------------------------------------------------------

    def ensure_stream(self, scope: Scope, group: str, stream: str) -> None:
        """Create the group and the stream if missing (for Kiln's own writers; never raises)."""
        now = clock.millis()
        try:
            with self.db.tx() as conn:
                group_id = self._group_id(conn, scope, group)
                if group_id is None:
                    group_id = conn.execute(GROUPS.insert().values(
                        account_id=scope.account_id, region=scope.region, name=group, created_ms=now)
                    ).inserted_primary_key[0]
                elif self._stream_row(conn, group_id, stream) is not None:
                    return
                conn.execute(STREAMS.insert().values(group_id=group_id, name=stream, created_ms=now))
        except sa.exc.IntegrityError:
            # A concurrent writer created it first (databases without SQLite's writer lock).
            with self.db.read() as conn:
                self._stream_id(conn, scope, group, stream)

    def create_stream(self, scope: Scope, group: str, stream: str) -> None:
        with self.db.tx() as conn:
            group_id = self._group_id(conn, scope, group)
            if group_id is None:
                raise _group_missing(group)
            if self._stream_row(conn, group_id, stream) is not None:
                raise AlreadyExists(STREAM, stream, "The specified log stream already exists")
            conn.execute(STREAMS.insert().values(group_id=group_id, name=stream, created_ms=clock.millis()))

    def delete_stream(self, scope: Scope, group: str, stream: str) -> None:
        self._ids.clear()
        with self.db.tx() as conn:
            stream_id = self._stream_id(conn, scope, group, stream)
            conn.execute(EVENTS.delete().where(EVENTS.c.stream_id == stream_id))
            conn.execute(STREAMS.delete().where(STREAMS.c.id == stream_id))

    def list_streams(self, scope: Scope, group: str, *, prefix: str | None = None,
                     by_last_event: bool = False, descending: bool = False,
                     after: tuple[int, str] | None = None, limit: int = 50) -> list[LogStream]:
        """Streams ordered by name, or by (last event time, name); `after` is the last key seen.

        The key of a stream is `(last_event_ms or 0, name)` when ordering by last event, else
        `(0, name)`.
        """
        last = sa.func.coalesce(STREAMS.c.last_event_ms, 0)
        cols = (last, STREAMS.c.name) if by_last_event else (sa.literal(0), STREAMS.c.name)
        with self.db.read() as conn:
            group_id = self._group_id(conn, scope, group)
            if group_id is None:
                raise _group_missing(group)
            query = sa.select(STREAMS).where(STREAMS.c.group_id == group_id).limit(limit)
            if prefix:
                query = query.where(STREAMS.c.name.startswith(prefix, autoescape=True))
            query = query.order_by(*(c.desc() if descending else c for c in cols))
            if after is not None:
                key = sa.tuple_(*cols) if by_last_event else STREAMS.c.name
                bound = sa.tuple_(sa.literal(after[0]), sa.literal(after[1])) if by_last_event else after[1]
                query = query.where(key < bound if descending else key > bound)
            return [_to_stream(group, r) for r in conn.execute(query)]

    # -- events -------------------------------------------------------------------------------

    def put_events(self, scope: Scope, group: str, stream: str, events: list[tuple[int, str]]) -> None:
        """Append `(timestamp ms, message)` pairs, in the given order, in one transaction."""
        self.append(scope, group, stream, events)

    def append(self, scope: Scope, group: str, stream: str, events: Iterable[tuple[int, str]]) -> int:
        """`put_events`, returning the stream's last `seq` afterwards.

        The hot path of every job's output: with the stream id cached it is one UPDATE (which also
        takes the stream's write lock), one SELECT and one multi-row INSERT.
        """
        batch = list(events)
        now = clock.millis()
        key = (scope.account_id, scope.region, group, stream)
        with self.db.tx() as conn:
            if not batch:
                stream_id = self._stream_id(conn, scope, group, stream)
                return int(conn.execute(_LAST_SEQ, {"sid": stream_id}).scalar_one())
            stamps = [t for t, _ in batch]
            bump = {"n": len(batch), "low": min(stamps), "high": max(stamps), "now": now,
                    "size": sum(len(m.encode("utf-8", "surrogatepass")) for _, m in batch)}
            for _attempt in range(2):
                stream_id = self._ids.get(key)
                if stream_id is None:  # raises NotFound when the group or stream is missing
                    stream_id = self._ids[key] = self._stream_id(conn, scope, group, stream)
                if conn.execute(_BUMP, {"sid": stream_id, **bump}).rowcount == 1:
                    break
                self._ids.pop(key, None)  # deleted (and maybe re-created) since it was cached
            else:
                raise _stream_missing(stream)
            end = int(conn.execute(_LAST_SEQ, {"sid": stream_id}).scalar_one())
            conn.execute(_INSERT, [
                {"stream_id": stream_id, "seq": end - len(batch) + i, "timestamp": t, "ingestion_ms": now,
                 "message": m}
                for i, (t, m) in enumerate(batch, start=1)])
            return end

    def read(self, scope: Scope, group: str, stream: str, start_ms: int | None = None,
             after_seq: int = 0, limit: int = 10000, *, end_ms: int | None = None) -> list[LogEvent]:
        """Up to `limit` events with `seq > after_seq` and `start_ms <= timestamp < end_ms`, oldest first."""
        with self.db.read() as conn:
            stream_id = self._stream_id(conn, scope, group, stream)
            query = (sa.select(EVENTS).where(EVENTS.c.stream_id == stream_id, EVENTS.c.seq > after_seq)
                     .order_by(EVENTS.c.seq).limit(limit))
            query = _time_window(query, start_ms, end_ms)
            return [_to_event(r) for r in conn.execute(query)]

    def read_back(self, scope: Scope, group: str, stream: str, before_seq: int | None = None,
                  limit: int = 10000, *, start_ms: int | None = None,
                  end_ms: int | None = None) -> list[LogEvent]:
        """The newest `limit` events with `seq < before_seq` (all when None) in the window, oldest first."""
        with self.db.read() as conn:
            stream_id = self._stream_id(conn, scope, group, stream)
            query = (sa.select(EVENTS).where(EVENTS.c.stream_id == stream_id)
                     .order_by(EVENTS.c.seq.desc()).limit(limit))
            if before_seq is not None:
                query = query.where(EVENTS.c.seq < before_seq)
            query = _time_window(query, start_ms, end_ms)
            return [_to_event(r) for r in reversed(conn.execute(query).all())]

    def filter(self, scope: Scope, group: str, *, streams: Sequence[str] | None = None,
               prefix: str | None = None, start_ms: int | None = None, end_ms: int | None = None,
               match: Callable[[str], bool] = lambda _: True, after: tuple[int, int, int] | None = None,
               limit: int = 10000, max_scan: int = 100_000) -> FilterPage:
        """Matching events of a group across streams, in (timestamp, stream, seq) order after `after`.

        `end_ms` is inclusive. At most `max_scan` events are examined per call, so a page may hold
        fewer than `limit` events (even none) and still have `resume_after` set.
        """
        with self.db.read() as conn:
            group_id = self._group_id(conn, scope, group)
            if group_id is None:
                raise _group_missing(group)
            names = sa.select(STREAMS.c.id, STREAMS.c.name).where(STREAMS.c.group_id == group_id)
            if streams is not None:
                names = names.where(STREAMS.c.name.in_(list(streams)))
            if prefix:
                names = names.where(STREAMS.c.name.startswith(prefix, autoescape=True))
            stream_names = {r.id: r.name for r in conn.execute(names)}
            found: list[FilteredEvent] = []
            scanned = 0
            key = sa.tuple_(EVENTS.c.timestamp, EVENTS.c.stream_id, EVENTS.c.seq)
            while stream_names:
                query = (sa.select(EVENTS).where(EVENTS.c.stream_id.in_(list(stream_names)))
                         .order_by(EVENTS.c.timestamp, EVENTS.c.stream_id, EVENTS.c.seq)
                         .limit(_FILTER_CHUNK))
                if start_ms is not None:
                    query = query.where(EVENTS.c.timestamp >= start_ms)
                if end_ms is not None:
                    query = query.where(EVENTS.c.timestamp <= end_ms)
                if after is not None:
                    query = query.where(key > sa.tuple_(*(sa.literal(v) for v in after)))
                rows = conn.execute(query).all()
                for row in rows:
                    scanned += 1
                    after = (row.timestamp, row.stream_id, row.seq)
                    if not match(row.message):
                        continue
                    found.append(FilteredEvent(stream_names[row.stream_id], row.stream_id, _to_event(row)))
                    if len(found) > limit:
                        return FilterPage(found[:limit], found[limit - 1].key)
                if len(rows) < _FILTER_CHUNK:
                    break
                if scanned >= max_scan:
                    return FilterPage(found, after)
            return FilterPage(found, None)

    # -- status ---------------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Totals over every account and region (for `/_kiln/status`)."""
        with self.db.read() as conn:
            groups = conn.execute(sa.select(sa.func.count()).select_from(GROUPS)).scalar_one()
            streams = conn.execute(sa.select(sa.func.count()).select_from(STREAMS)).scalar_one()
            total = sa.func.coalesce(sa.func.sum(STREAMS.c.last_seq), 0)
            events = conn.execute(sa.select(total)).scalar_one()
        return {"logGroups": int(groups), "logStreams": int(streams), "logEvents": int(events)}

    # -- lookups ----------------------------------------------------------------------------------

    @staticmethod
    def _group_id(conn: Connection, scope: Scope, group: str) -> int | None:
        value = conn.execute(sa.select(GROUPS.c.id).where(_in_group(scope, group))).scalar_one_or_none()
        return None if value is None else int(value)

    @staticmethod
    def _stream_row(conn: Connection, group_id: int, stream: str) -> Any:
        return conn.execute(sa.select(STREAMS.c.id).where(STREAMS.c.group_id == group_id,
                                                          STREAMS.c.name == stream)).first()

    def _stream_id(self, conn: Connection, scope: Scope, group: str, stream: str) -> int:
        query = (sa.select(STREAMS.c.id).join(GROUPS, GROUPS.c.id == STREAMS.c.group_id)
                 .where(_in_group(scope, group), STREAMS.c.name == stream))
        value = conn.execute(query).scalar_one_or_none()
        if value is not None:
            return int(value)
        if self._group_id(conn, scope, group) is None:
            raise _group_missing(group)
        raise _stream_missing(stream)


def _time_window(query: Any, start_ms: int | None, end_ms: int | None) -> Any:
    if start_ms is not None:
        query = query.where(EVENTS.c.timestamp >= start_ms)
    if end_ms is not None:
        query = query.where(EVENTS.c.timestamp < end_ms)
    return query
