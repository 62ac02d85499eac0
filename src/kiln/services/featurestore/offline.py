"""The offline store: a write-ahead buffer in the state store, flushed to Parquet in the object store.

`append()` runs inside the request that accepts records: once it returns, the rows are durable (a
committed transaction), so an acknowledged record survives a crash of the server. `flush()` moves
buffered rows to Parquet in three steps, each safe to interrupt:

1. seal: give up to `max_rows` buffered rows of one group a batch id (one transaction);
2. write: one Parquet file per event-time hour, at keys derived from the batch (deterministic);
3. retire: delete the batch's rows and count them as flushed (one transaction).

A batch sealed but not retired when the server died is written again at start-up onto the same
keys, so every row lands exactly once. `OfflineFlusher` runs `flush()` in the background.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import sqlalchemy as sa

from kiln.core.state.db import Database
from kiln.services.featurestore import parquet
from kiln.services.featurestore.models import FeatureGroup, OfflineRow
from kiln.services.featurestore.tables import offline_batches as B
from kiln.services.featurestore.tables import offline_buffer as W
from kiln.services.featurestore.tables import offline_stats as S
from kiln.services.s3.store import ObjectStore, parse_uri

LOG = logging.getLogger(__name__)


class OfflineStore:
    """Thread-safe. `group_of(store_id)` resolves a buffer's feature group (None once it is gone)."""

    def __init__(self, db: Database, objects: ObjectStore, group_of: Callable[[str], FeatureGroup | None],
                 max_rows: int = 50_000, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.objects = objects
        self.group_of = group_of
        self.max_rows = max_rows
        self.clock = clock
        self._flush_lock = threading.Lock()
        self.appended_since_flush = 0

    # Writing ---------------------------------------------------------------------------------

    def append(self, store_id: str, rows: Sequence[OfflineRow]) -> None:
        """Durably buffer rows (one transaction)."""
        if not rows:
            return
        with self.db.tx() as conn:
            conn.execute(W.insert(), [{"store_id": store_id, "batch_id": None, "payload": r.values,
                                       "event_time": r.event_time, "api_time": r.api_time,
                                       "is_deleted": r.is_deleted} for r in rows])
        self.appended_since_flush += len(rows)

    def pending(self, store_id: str | None = None) -> int:
        q = sa.select(sa.func.count()).select_from(W)
        if store_id is not None:
            q = q.where(W.c.store_id == store_id)
        with self.db.read() as conn:
            return int(conn.execute(q).scalar_one())

    def stats(self, store_id: str) -> tuple[int, int, float | None]:
        """(rows flushed, files written, last flush time)."""
        with self.db.read() as conn:
            row = conn.execute(sa.select(S.c.rows, S.c.files, S.c.last_flush_at).where(S.c.store_id == store_id)
                               ).first()
        return (int(row[0]), int(row[1]), row[2]) if row else (0, 0, None)

    # Flushing --------------------------------------------------------------------------------

    def flush(self, store_id: str | None = None) -> int:
        """Write every buffered row (of one group, or all) to Parquet. Returns rows written."""
        with self._flush_lock:
            self.appended_since_flush = 0
            written = 0
            for sid in self._stores_with_rows(store_id):
                written += self._flush_store(sid)
            return written

    def recover(self) -> int:
        """At start-up: write the batches a crash left sealed and the rows it left buffered."""
        with self.db.read() as conn:
            sealed = int(conn.execute(sa.select(sa.func.count()).select_from(B)).scalar_one())
        pending = self.pending()
        if sealed or pending:
            LOG.warning("offline store recovery: %d sealed batch(es) to rewrite, %d buffered row(s) to flush",
                        sealed, pending)
        return self.flush()

    def discard(self, store_id: str) -> None:
        """Forget a group's buffered rows (its offline store is gone)."""
        with self.db.tx() as conn:
            conn.execute(W.delete().where(W.c.store_id == store_id))
            conn.execute(B.delete().where(B.c.store_id == store_id))

    def _stores_with_rows(self, store_id: str | None) -> list[str]:
        q = sa.select(W.c.store_id).distinct()
        if store_id is not None:
            q = q.where(W.c.store_id == store_id)
        with self.db.read() as conn:
            return [r[0] for r in conn.execute(q)]

    def _flush_store(self, store_id: str) -> int:
        group = self.group_of(store_id)
        if group is None or group.offline is None:
            LOG.warning("dropping buffered offline rows of a feature group that no longer exists (%s)", store_id)
            self.discard(store_id)
            return 0
        written = 0
        while True:
            batch = self._sealed(store_id) or self._seal(store_id)
            if batch is None:
                return written
            written += self._write_batch(group, batch)

    def _sealed(self, store_id: str) -> Any:
        with self.db.read() as conn:
            return conn.execute(sa.select(B).where(B.c.store_id == store_id).order_by(B.c.id).limit(1)).first()

    def _seal(self, store_id: str) -> Any:
        with self.db.tx() as conn:
            seqs = conn.execute(sa.select(W.c.seq).where(W.c.store_id == store_id, W.c.batch_id.is_(None))
                                .order_by(W.c.seq).limit(self.max_rows)).scalars().all()
            if not seqs:
                return None
            batch_id = conn.execute(B.insert().values(store_id=store_id, token=uuid.uuid4().hex[:16],
                                                      sealed_at=self.clock(), rows=len(seqs))).inserted_primary_key[0]
            conn.execute(W.update().where(W.c.store_id == store_id, W.c.batch_id.is_(None), W.c.seq <= seqs[-1])
                         .values(batch_id=batch_id))
            return conn.execute(sa.select(B).where(B.c.id == batch_id)).first()

    def _write_batch(self, group: FeatureGroup, batch: Any) -> int:
        assert group.offline is not None
        with self.db.read() as conn:
            rows = conn.execute(sa.select(sa.type_coerce(W.c.payload, sa.Text), W.c.event_time, W.c.api_time,
                                          W.c.is_deleted).where(W.c.batch_id == batch.id).order_by(W.c.seq)).all()
        table, parts = parquet.from_json(group, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows],
                                         [bool(r[3]) for r in rows], batch.sealed_at)
        bucket, prefix = parse_uri(group.offline.resolved_uri)
        files = 0
        with tempfile.TemporaryDirectory(prefix="kiln-offline-") as tmp:
            for part, part_table in parquet.split(table, parts).items():
                path = Path(tmp) / "part.parquet"
                pq.write_table(part_table, path, compression="snappy")
                key = f"{prefix.rstrip('/')}/{part}/{parquet.file_name(batch.sealed_at, batch.token)}"
                self.objects.put_file(bucket, key, path, content_type="application/octet-stream")
                files += 1
        now = self.clock()
        with self.db.tx() as conn:
            conn.execute(W.delete().where(W.c.batch_id == batch.id))
            conn.execute(B.delete().where(B.c.id == batch.id))
            updated = conn.execute(S.update().where(S.c.store_id == group.store_id).values(
                rows=S.c.rows + len(rows), files=S.c.files + files, last_flush_at=now))
            if updated.rowcount == 0:
                conn.execute(S.insert().values(store_id=group.store_id, rows=len(rows), files=files,
                                               last_flush_at=now))
        LOG.debug("offline store %s: %d rows in %d files", group.name, len(rows), files)
        return len(rows)


class OfflineFlusher:
    """Background thread: flush every `interval` seconds, or sooner once `max_rows` rows are waiting."""

    def __init__(self, store: OfflineStore, interval: float = 2.0,
                 on_tick: Callable[[], None] | None = None) -> None:
        self.store = store
        self.interval = interval
        self.on_tick = on_tick
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="featurestore-offline-flusher", daemon=True)
        self._thread.start()

    def notify(self) -> None:
        if self.store.appended_since_flush >= self.store.max_rows:
            self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=60)

    def _run(self) -> None:
        while True:
            self._wake.wait(self.interval)
            self._wake.clear()
            try:
                if self.on_tick is not None:
                    self.on_tick()
                self.store.flush()
            except Exception:
                LOG.exception("offline store flush failed; will retry")
            if self._stopping.is_set():
                return
