"""Athena query executions: QUEUED -> RUNNING -> SUCCEEDED | FAILED | CANCELLED, run on worker threads.

Results go to `<OutputLocation>/<QueryExecutionId>.csv` (+ `.csv.metadata`) for DML and UTILITY
statements, `<id>.txt` for DDL, as Athena writes them. A failed query ends FAILED with Athena's error
text; only StopQueryExecution leads to CANCELLED (the SageMaker SDK's wait loops forever on it).
A query still running when the server stopped ends FAILED at the next start.

`before_query` hooks run first (the feature store flushes its offline buffer there, so a query sees
every acknowledged record).
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import duckdb
import sqlalchemy as sa

from kiln.core.errors import InvalidInput, NotFound
from kiln.core.scope import Scope
from kiln.core.state.db import Database
from kiln.services.athena import results
from kiln.services.athena.engine import QueryEngine, QueryFailed
from kiln.services.athena.models import TERMINAL, QueryExecution, QueryState
from kiln.services.athena.tables import query_executions as Q
from kiln.services.s3.store import ObjectStore, parse_uri

LOG = logging.getLogger(__name__)
RESTART_REASON = "GENERIC_INTERNAL_ERROR: The Kiln server stopped while this query was running; run it again."


def _doc(q: QueryExecution) -> dict[str, Any]:
    return {k: getattr(q, k) for k in QueryExecution.__slots__ if k not in ("id", "state", "submitted_at")}


def _from_row(row: Any) -> QueryExecution:
    m = row._mapping
    doc = dict(m["doc"])
    doc["columns"] = [tuple(c) for c in doc.get("columns", [])]
    return QueryExecution(id=m["id"], state=QueryState(m["state"]), submitted_at=m["submitted_at"], **doc)


class QueryService:
    def __init__(self, db: Database, objects: ObjectStore, engine: QueryEngine, work_dir: Path,
                 workers: int = 2) -> None:
        self.db = db
        self.objects = objects
        self.engine = engine
        self.work_dir = work_dir
        (work_dir / "pages").mkdir(parents=True, exist_ok=True)
        self.before_query: list[Callable[[], None]] = []
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="athena")
        self._cancel: dict[str, threading.Event] = {}
        self._done: dict[str, threading.Event] = {}
        self._connections: dict[str, duckdb.DuckDBPyConnection] = {}
        self._lock = threading.Lock()

    # Persistence -----------------------------------------------------------------------------

    def _key(self, scope: Scope, qid: str) -> Any:
        return sa.and_(Q.c.account_id == scope.account_id, Q.c.region == scope.region, Q.c.id == qid)

    def get(self, scope: Scope, qid: str) -> QueryExecution:
        with self.db.read() as conn:
            row = conn.execute(sa.select(Q).where(self._key(scope, qid))).first()
        if row is None:
            raise NotFound("QueryExecution", qid, f"QueryExecution {qid} was not found")
        return _from_row(row)

    def _save(self, scope: Scope, q: QueryExecution, insert: bool = False) -> None:
        values = {"doc": _doc(q), "state": q.state.value, "submitted_at": q.submitted_at}
        with self.db.tx() as conn:
            if insert:
                conn.execute(Q.insert().values(account_id=scope.account_id, region=scope.region, id=q.id, **values))
            else:
                conn.execute(Q.update().where(self._key(scope, q.id)).values(**values))

    def list_ids(self, scope: Scope, workgroup: str | None) -> list[str]:
        with self.db.read() as conn:
            rows = conn.execute(sa.select(Q).where(Q.c.account_id == scope.account_id, Q.c.region == scope.region)
                                .order_by(Q.c.submitted_at.desc())).all()
        return [r.id for r in rows if workgroup is None or _from_row(r).workgroup == workgroup]

    def recover(self) -> None:
        with self.db.read() as conn:
            rows = conn.execute(sa.select(Q).where(Q.c.state.in_(["QUEUED", "RUNNING"]))).all()
        for row in rows:
            q = _from_row(row)
            scope = Scope(row.account_id, row.region)
            self._save(scope, replace(q, state=QueryState.FAILED, state_reason=RESTART_REASON,
                                      completed_at=time.time(), error_category=1, error_type=401))

    # Lifecycle -------------------------------------------------------------------------------

    def start(self, scope: Scope, query: str, catalog: str, database: str, output: str | None,
              workgroup: str, kms_key: str | None = None) -> QueryExecution:
        if not output:
            raise InvalidInput("No output location provided. An output location is required either through the "
                               "Workgroup result configuration setting or as an API input.")
        parse_uri(output)
        qid = str(uuid.uuid4())
        try:
            kind = self.engine.statement_type(self.engine.parse(query))
        except QueryFailed:
            kind = "DML"
        suffix = "txt" if kind == "DDL" else "csv"
        q = QueryExecution(id=qid, query=query, statement_type=kind, catalog=catalog, database=database,
                           output_location=f"{output.rstrip('/')}/{qid}.{suffix}", workgroup=workgroup,
                           state=QueryState.QUEUED, submitted_at=time.time(), kms_key=kms_key)
        self._save(scope, q, insert=True)
        with self._lock:
            self._cancel[qid] = threading.Event()
            self._done[qid] = threading.Event()
        self._pool.submit(self._run, scope, q)
        return q

    def wait(self, scope: Scope, qid: str, timeout: float) -> QueryExecution:
        """The execution, after waiting up to `timeout` s for it to finish (a short long-poll)."""
        done = self._done.get(qid)
        if done is not None:
            done.wait(timeout)
        return self.get(scope, qid)

    def stop(self, scope: Scope, qid: str) -> None:
        q = self.get(scope, qid)
        if q.state in TERMINAL:
            return
        with self._lock:
            cancel = self._cancel.get(qid)
            con = self._connections.get(qid)
        if cancel is not None:
            cancel.set()
        if con is not None:
            con.interrupt()

    def _run(self, scope: Scope, q: QueryExecution) -> None:
        started = time.time()
        cancel = self._cancel[q.id]
        tmp = self.work_dir / q.id
        tmp.mkdir(parents=True, exist_ok=True)
        try:
            if cancel.is_set():
                raise QueryFailed("USER_CANCELLED: Query was cancelled by user")
            self._save(scope, replace(q, state=QueryState.RUNNING))
            for hook in self.before_query:
                hook()
            writer = results.ResultWriter(tmp / "result.csv", self.page_path(q.id))
            try:
                outcome = self.engine.run(scope, q.query, q.database, writer, cancel,
                                          on_connection=lambda c: self._track(q.id, c))
            finally:
                writer.close()
            self._publish(q, tmp / "result.csv", outcome.has_rows, outcome.columns, outcome.rows)
            now = time.time()
            done = replace(q, state=QueryState.SUCCEEDED, completed_at=now, statement_type=outcome.statement_type,
                           rows=outcome.rows, columns=outcome.columns, scanned_bytes=outcome.scanned_bytes,
                           engine_ms=int((now - started) * 1000))
        except QueryFailed as exc:
            state = QueryState.CANCELLED if cancel.is_set() else QueryState.FAILED
            done = replace(q, state=state, completed_at=time.time(), state_reason=exc.message,
                           error_category=exc.category, error_type=1000 if exc.category == 2 else 401)
        except Exception as exc:
            LOG.exception("athena query %s failed", q.id)
            done = replace(q, state=QueryState.FAILED, completed_at=time.time(), error_category=1, error_type=401,
                           state_reason=f"GENERIC_INTERNAL_ERROR: {exc}")
        finally:
            with self._lock:
                self._connections.pop(q.id, None)
            shutil.rmtree(tmp, ignore_errors=True)
        self._save(scope, done)
        with self._lock:
            self._cancel.pop(q.id, None)
            event = self._done.pop(q.id, None)
        if event is not None:
            event.set()

    def _track(self, qid: str, con: duckdb.DuckDBPyConnection) -> None:
        with self._lock:
            self._connections[qid] = con

    def _publish(self, q: QueryExecution, csv_path: Path, has_rows: bool, columns: list[tuple[str, str]],
                 rows: int) -> None:
        assert q.output_location is not None
        bucket, key = parse_uri(q.output_location)
        if not has_rows:
            self.objects.put_bytes(bucket, key, b"", content_type="text/plain")
            return
        self.objects.put_file(bucket, key, csv_path, content_type="text/csv")
        self.objects.put_bytes(bucket, key + ".metadata", results.metadata_json(columns, rows),
                               content_type="application/octet-stream")

    # Results ---------------------------------------------------------------------------------

    def page_path(self, qid: str) -> Path:
        return self.work_dir / "pages" / f"{qid}.parquet"

    def rows(self, q: QueryExecution, offset: int, limit: int) -> list[list[str | None]]:
        path = self.page_path(q.id)
        if not path.exists():
            return []
        return list(results.read_page(path, offset, limit))

    def shutdown(self) -> None:
        for event in list(self._cancel.values()):
            event.set()
        with self._lock:
            for con in self._connections.values():
                con.interrupt()
        self._pool.shutdown(wait=True, cancel_futures=True)
