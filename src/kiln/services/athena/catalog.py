"""The Glue Data Catalog: databases and tables in the state store (names are kept lower-case, as Glue does)."""

from __future__ import annotations

import fnmatch
import time
from dataclasses import asdict
from typing import Any

import sqlalchemy as sa

from kiln.core.errors import AlreadyExists, NotFound
from kiln.core.scope import Scope
from kiln.core.state.db import Database
from kiln.services.athena.models import CatalogDatabase, CatalogTable, Column
from kiln.services.athena.tables import glue_databases as D
from kiln.services.athena.tables import glue_tables as T


def _table_doc(t: CatalogTable) -> dict[str, Any]:
    doc = asdict(t)
    for k in ("database", "name", "created_at", "updated_at"):
        doc.pop(k)
    return doc


def _table(row: Any) -> CatalogTable:
    m = row._mapping
    d = dict(m["doc"])
    d["columns"] = [Column(**c) for c in d["columns"]]
    d["partition_keys"] = [Column(**c) for c in d.get("partition_keys", [])]
    return CatalogTable(database=m["database"], name=m["name"], created_at=m["created_at"],
                        updated_at=m["updated_at"], **d)


def _database(row: Any) -> CatalogDatabase:
    m = row._mapping
    return CatalogDatabase(name=m["name"], created_at=m["created_at"], **m["doc"])


def _db_key(scope: Scope, name: str) -> Any:
    return sa.and_(D.c.account_id == scope.account_id, D.c.region == scope.region, D.c.name == name.lower())


def _table_key(scope: Scope, database: str, name: str) -> Any:
    return sa.and_(T.c.account_id == scope.account_id, T.c.region == scope.region,
                   T.c.database == database.lower(), T.c.name == name.lower())


def entity_not_found(kind: str, name: str) -> NotFound:
    return NotFound(kind, name, f"{kind} {name} not found.")  # unverified wording


class Catalog:
    """Thread-safe (every call is its own transaction)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # Databases -------------------------------------------------------------------------------

    def ensure_database(self, scope: Scope, name: str, description: str | None = None) -> CatalogDatabase:
        with self.db.tx() as conn:
            row = conn.execute(sa.select(D).where(_db_key(scope, name))).first()
            if row is None:
                conn.execute(D.insert().values(account_id=scope.account_id, region=scope.region, name=name.lower(),
                                               doc={"description": description, "location": None,
                                                    "parameters": {}}, created_at=time.time()))
                row = conn.execute(sa.select(D).where(_db_key(scope, name))).first()
        return _database(row)

    def create_database(self, scope: Scope, db: CatalogDatabase) -> None:
        with self.db.tx() as conn:
            if conn.execute(sa.select(D.c.name).where(_db_key(scope, db.name))).first():
                raise AlreadyExists("Database", db.name, "Database already exists.")
            conn.execute(D.insert().values(account_id=scope.account_id, region=scope.region, name=db.name.lower(),
                                           doc={"description": db.description, "location": db.location,
                                                "parameters": db.parameters}, created_at=time.time()))

    def get_database(self, scope: Scope, name: str) -> CatalogDatabase:
        with self.db.read() as conn:
            row = conn.execute(sa.select(D).where(_db_key(scope, name))).first()
        if row is None:
            raise entity_not_found("Database", name)
        return _database(row)

    def databases(self, scope: Scope) -> list[CatalogDatabase]:
        with self.db.read() as conn:
            rows = conn.execute(sa.select(D).where(D.c.account_id == scope.account_id, D.c.region == scope.region)
                                .order_by(D.c.name)).all()
        return [_database(r) for r in rows]

    def delete_database(self, scope: Scope, name: str) -> None:
        with self.db.tx() as conn:
            if conn.execute(D.delete().where(_db_key(scope, name))).rowcount == 0:
                raise entity_not_found("Database", name)
            conn.execute(T.delete().where(T.c.account_id == scope.account_id, T.c.region == scope.region,
                                          T.c.database == name.lower()))

    # Tables ----------------------------------------------------------------------------------

    def put_table(self, scope: Scope, table: CatalogTable, *, replace: bool = True) -> CatalogTable:
        """Create (or, with `replace`, overwrite) a table. The database must exist."""
        now = time.time()
        with self.db.tx() as conn:
            if not conn.execute(sa.select(D.c.name).where(_db_key(scope, table.database))).first():
                raise entity_not_found("Database", table.database)
            key = _table_key(scope, table.database, table.name)
            old = conn.execute(sa.select(T.c.created_at).where(key)).first()
            if old is not None and not replace:
                raise AlreadyExists("Table", table.name, "Table already exists.")
            if old is not None:
                conn.execute(T.update().where(key).values(doc=_table_doc(table), updated_at=now))
            else:
                conn.execute(T.insert().values(account_id=scope.account_id, region=scope.region,
                                               database=table.database.lower(), name=table.name.lower(),
                                               doc=_table_doc(table), created_at=now, updated_at=now))
        return self.get_table(scope, table.database, table.name)

    def get_table(self, scope: Scope, database: str, name: str) -> CatalogTable:
        with self.db.read() as conn:
            row = conn.execute(sa.select(T).where(_table_key(scope, database, name))).first()
            if row is None:
                if not conn.execute(sa.select(D.c.name).where(_db_key(scope, database))).first():
                    raise entity_not_found("Database", database)
                raise entity_not_found("Table", name)
        return _table(row)

    def find_table(self, scope: Scope, database: str, name: str) -> CatalogTable | None:
        with self.db.read() as conn:
            row = conn.execute(sa.select(T).where(_table_key(scope, database, name))).first()
        return _table(row) if row is not None else None

    def tables(self, scope: Scope, database: str, expression: str | None = None) -> list[CatalogTable]:
        self.get_database(scope, database)
        with self.db.read() as conn:
            rows = conn.execute(sa.select(T).where(T.c.account_id == scope.account_id, T.c.region == scope.region,
                                                   T.c.database == database.lower()).order_by(T.c.name)).all()
        out = [_table(r) for r in rows]
        if expression:
            # Glue: a regular expression, where "*" also means "any characters"
            pattern = expression.lower()
            out = [t for t in out if fnmatch.fnmatchcase(t.name, pattern.replace(".*", "*"))]
        return out

    def delete_table(self, scope: Scope, database: str, name: str, *, missing_ok: bool = False) -> None:
        with self.db.tx() as conn:
            if conn.execute(T.delete().where(_table_key(scope, database, name))).rowcount == 0 and not missing_ok:
                raise entity_not_found("Table", name)
