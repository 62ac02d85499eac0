"""The online store: the latest record per record identifier, behind a small interface.

`OnlineStore` is the port; `SqliteOnlineStore` (embedded default, its own WAL-mode file so reads
never wait on the state store's writer) and `RedisOnlineStore` (online_redis.py) implement it, and
one conformance suite (tests/unit/test_featurestore_online.py) runs against both.

Contract (every implementation):
* `put` keeps a record only if its event time is at or after the stored one's (the later write wins
  a tie); a soft-deleted tombstone counts as a stored record with the delete's event time.
* `soft_delete` applies only with an event time strictly after the stored one's; it leaves a
  tombstone (no values) so older writes cannot resurrect the record. `hard_delete` removes the
  record under the same event-time rule; both return whether they applied.
* Readers never see tombstones, nor records at or past `expires_at`.
* Thread-safe: every method may be called from any thread.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path

from kiln.services.featurestore.models import OnlineRecord


class OnlineStore(ABC):
    @abstractmethod
    def put(self, store_id: str, record_id: str, record: OnlineRecord) -> bool:
        """Store `record` if it is not older than the stored one. Returns whether it was stored."""

    def put_many(self, store_id: str, items: Sequence[tuple[str, OnlineRecord]]) -> list[bool]:
        return [self.put(store_id, rid, rec) for rid, rec in items]

    @abstractmethod
    def get(self, store_id: str, record_id: str, now: float) -> OnlineRecord | None:
        """The live record, or None (missing, soft-deleted or expired)."""

    def get_many(self, store_id: str, record_ids: Sequence[str], now: float) -> dict[str, OnlineRecord]:
        out = {}
        for rid in record_ids:
            rec = self.get(store_id, rid, now)
            if rec is not None:
                out[rid] = rec
        return out

    @abstractmethod
    def soft_delete(self, store_id: str, record_id: str, event_time: float, written_at: float) -> bool:
        """Replace the record with a tombstone if `event_time` is after the stored event time."""

    @abstractmethod
    def hard_delete(self, store_id: str, record_id: str, event_time: float) -> bool:
        """Remove the record if `event_time` is after its event time (True also when there was none)."""

    @abstractmethod
    def list_ids(self, store_id: str, token: str | None, limit: int, now: float,
                 include_soft_deleted: bool = False) -> tuple[list[str], str | None]:
        """A page of record identifiers (in no particular order) and the token of the next page."""

    @abstractmethod
    def count(self, store_id: str, now: float) -> int:
        """Live records (not soft-deleted, not expired)."""

    @abstractmethod
    def drop(self, store_id: str) -> None:
        """Forget every record of a feature group."""

    @abstractmethod
    def sweep_expired(self, now: float) -> int:
        """Hard-delete expired records; returns how many."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""


def encode_values(values: dict[str, object]) -> str:
    return json.dumps(values, separators=(",", ":"), ensure_ascii=False)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS online_records (
  store_id TEXT NOT NULL, record_id TEXT NOT NULL, event_time REAL NOT NULL, written_at REAL NOT NULL,
  expires_at REAL, deleted INTEGER NOT NULL, payload TEXT NOT NULL,
  PRIMARY KEY (store_id, record_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ix_online_expires ON online_records (expires_at) WHERE expires_at IS NOT NULL;
"""
_UPSERT = """
INSERT INTO online_records (store_id, record_id, event_time, written_at, expires_at, deleted, payload)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (store_id, record_id) DO UPDATE SET event_time = excluded.event_time,
  written_at = excluded.written_at, expires_at = excluded.expires_at, deleted = excluded.deleted,
  payload = excluded.payload
WHERE excluded.event_time {op} online_records.event_time
"""
_LIVE = "deleted = 0 AND (expires_at IS NULL OR expires_at > ?)"


class SqliteOnlineStore(OnlineStore):
    """SQLite file in WAL mode; one connection per thread (readers run in parallel with the writer)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._conn().executescript(_SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across process crashes
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    @staticmethod
    def _row(store_id: str, rid: str, rec: OnlineRecord) -> tuple[object, ...]:
        return (store_id, rid, rec.event_time, rec.written_at, rec.expires_at, int(rec.deleted),
                encode_values(rec.values))  # type: ignore[arg-type]

    def put(self, store_id: str, record_id: str, record: OnlineRecord) -> bool:
        cur = self._conn().execute(_UPSERT.format(op=">="), self._row(store_id, record_id, record))
        return cur.rowcount > 0

    def put_many(self, store_id: str, items: Sequence[tuple[str, OnlineRecord]]) -> list[bool]:
        conn = self._conn()
        out = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            for rid, rec in items:
                out.append(conn.execute(_UPSERT.format(op=">="), self._row(store_id, rid, rec)).rowcount > 0)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return out

    @staticmethod
    def _record(row: tuple[object, ...]) -> OnlineRecord:
        event_time, written_at, expires_at, deleted, payload = row
        return OnlineRecord(json.loads(payload), event_time, written_at, expires_at,  # type: ignore[arg-type]
                            bool(deleted))

    def get(self, store_id: str, record_id: str, now: float) -> OnlineRecord | None:
        row = self._conn().execute(
            f"SELECT event_time, written_at, expires_at, deleted, payload FROM online_records "
            f"WHERE store_id = ? AND record_id = ? AND {_LIVE}", (store_id, record_id, now)).fetchone()
        return self._record(row) if row else None

    def get_many(self, store_id: str, record_ids: Sequence[str], now: float) -> dict[str, OnlineRecord]:
        out: dict[str, OnlineRecord] = {}
        ids = list(dict.fromkeys(record_ids))
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            marks = ",".join("?" * len(chunk))
            for rid, *rest in self._conn().execute(
                    f"SELECT record_id, event_time, written_at, expires_at, deleted, payload FROM online_records "
                    f"WHERE store_id = ? AND record_id IN ({marks}) AND {_LIVE}", (store_id, *chunk, now)):
                out[rid] = self._record(tuple(rest))
        return out

    def soft_delete(self, store_id: str, record_id: str, event_time: float, written_at: float) -> bool:
        tomb = OnlineRecord({}, event_time, written_at, None, True)
        return self._conn().execute(_UPSERT.format(op=">"), self._row(store_id, record_id, tomb)).rowcount > 0

    def hard_delete(self, store_id: str, record_id: str, event_time: float) -> bool:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute("SELECT event_time FROM online_records WHERE store_id = ? AND record_id = ?",
                               (store_id, record_id)).fetchone()
            if row is not None and row[0] >= event_time:
                conn.execute("ROLLBACK")
                return False
            conn.execute("DELETE FROM online_records WHERE store_id = ? AND record_id = ?", (store_id, record_id))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return True

    def list_ids(self, store_id: str, token: str | None, limit: int, now: float,
                 include_soft_deleted: bool = False) -> tuple[list[str], str | None]:
        live = "(expires_at IS NULL OR expires_at > ?)" + ("" if include_soft_deleted else " AND deleted = 0")
        rows = self._conn().execute(
            f"SELECT record_id FROM online_records WHERE store_id = ? AND record_id > ? AND {live} "
            f"ORDER BY record_id LIMIT ?", (store_id, token or "", now, limit + 1)).fetchall()
        ids = [r[0] for r in rows[:limit]]
        return ids, (ids[-1] if len(rows) > limit else None)

    def count(self, store_id: str, now: float) -> int:
        return int(self._conn().execute(f"SELECT count(*) FROM online_records WHERE store_id = ? AND {_LIVE}",
                                        (store_id, now)).fetchone()[0])

    def drop(self, store_id: str) -> None:
        self._conn().execute("DELETE FROM online_records WHERE store_id = ?", (store_id,))

    def sweep_expired(self, now: float) -> int:
        cur = self._conn().execute("DELETE FROM online_records WHERE expires_at IS NOT NULL AND expires_at <= ?",
                                   (now,))
        return cur.rowcount

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                try:
                    conn.close()
                except sqlite3.ProgrammingError:
                    pass
            self._all.clear()
        self._local = threading.local()
