"""The state store: SQLAlchemy 2 over SQLite (WAL) by default, any SQLAlchemy URL (PostgreSQL) at scale.

Schema changes are *migrations*: small functions that receive Alembic's `Operations` (so DDL,
including SQLite's batch-mode ALTERs, comes from Alembic rather than hand-written SQL). Each
service owns an ordered list of them; `Database.migrate()` applies, once and in order, the ones a
database has not seen, recording their ids in `kiln_migrations`.

Thread-safety: one `Database` per server process; connections come from SQLAlchemy's pool, and
SQLite serialises writers (busy timeout 30 s). Only the server process opens the database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy.engine import Connection, Engine

METADATA = sa.MetaData()

MIGRATIONS_TABLE = sa.Table(
    "kiln_migrations",
    sa.MetaData(),
    sa.Column("id", sa.String(200), primary_key=True),
    sa.Column("applied_at", sa.Float, nullable=False),
)


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step. `id` is unique forever (convention: `<area>-NNNN-<what>`)."""

    id: str
    apply: Callable[[Operations], None]


def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # SQLAlchemy emits BEGIN itself (see _sqlite_begin)
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across process crashes
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _sqlite_begin(conn: Connection) -> None:
    write = conn.get_execution_options().get("kiln_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


class Database:
    """Owns the engine. `tx()` is the unit of work: a connection inside one transaction."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict[str, Any] = {}
        if self.is_sqlite:
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        self.engine: Engine = sa.create_engine(url, **kwargs)
        if self.is_sqlite:
            sa.event.listen(self.engine, "connect", _sqlite_connect)
            sa.event.listen(self.engine, "begin", _sqlite_begin)

    @contextmanager
    def tx(self) -> Iterator[Connection]:
        """A write transaction (SQLite: `BEGIN IMMEDIATE`, so writers queue instead of deadlocking)."""
        with self.engine.connect() as conn:
            conn = conn.execution_options(kiln_write=True)
            with conn.begin():
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn

    def migrate(self, migrations: Iterable[Migration]) -> list[str]:
        """Apply the migrations this database has not seen, in order. Returns the ids applied."""
        import time

        applied: list[str] = []
        with self.tx() as conn:
            MIGRATIONS_TABLE.create(conn, checkfirst=True)
            seen = {row[0] for row in conn.execute(sa.select(MIGRATIONS_TABLE.c.id))}
            ops = Operations(MigrationContext.configure(conn))
            for m in migrations:
                if m.id in seen:
                    continue
                m.apply(ops)
                conn.execute(MIGRATIONS_TABLE.insert().values(id=m.id, applied_at=time.time()))
                applied.append(m.id)
        return applied

    def dispose(self) -> None:
        self.engine.dispose()


def create_tables(*tables: sa.Table) -> Callable[[Operations], None]:
    """A migration step that creates the given tables (as declared at the time of the migration)."""

    def apply(ops: Operations) -> None:
        conn = ops.get_bind()
        for table in tables:
            table.create(conn, checkfirst=True)

    return apply
