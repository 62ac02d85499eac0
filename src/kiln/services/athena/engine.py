"""Runs one Athena statement: sqlglot reads it, tables resolve through the Glue catalog, DuckDB executes.

* DML (SELECT / WITH / VALUES): every table the query names becomes a DuckDB view over its files in
  the object store (Parquet, or CSV for OpenCSVSerde/LazySimpleSerDe tables), columns typed as the
  catalog declares; the rewritten query streams into a `ResultWriter`.
* DDL: `CREATE EXTERNAL TABLE ... LOCATION`, `CREATE DATABASE`, `DROP TABLE|DATABASE` edit the catalog.
* UTILITY: `SHOW TABLES`, `SHOW DATABASES`, `DESCRIBE <table>`.

Failures raise `QueryFailed` with Athena's `ERROR_NAME: text`.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa
import sqlglot
from sqlglot import exp

from kiln.core.errors import AlreadyExists, InvalidInput, NotFound
from kiln.core.scope import Scope
from kiln.services.athena import sqlmap
from kiln.services.athena.catalog import Catalog
from kiln.services.athena.files import PinnedFiles
from kiln.services.athena.models import CSV, PARQUET, CatalogDatabase, CatalogTable, Column
from kiln.services.athena.results import ResultWriter, athena_type
from kiln.services.s3.store import ObjectStore

# Resolves a table name the catalog does not know (Kiln: a feature group's own name -> its offline table).
Alias = Callable[[Scope, str, str], CatalogTable | None]
BATCH_ROWS = 50_000


class QueryFailed(Exception):
    def __init__(self, message: str, category: int = 2) -> None:
        super().__init__(message)
        self.message = message
        self.category = category  # AthenaError.ErrorCategory: 1 system, 2 user, 3 other


@dataclass(slots=True)
class Outcome:
    statement_type: str
    columns: list[tuple[str, str]] = field(default_factory=list)
    rows: int = 0
    scanned_bytes: int = 0
    has_rows: bool = False


class QueryEngine:
    def __init__(self, catalog: Catalog, objects: ObjectStore, alias: Alias | None = None,
                 memory_limit: str | None = None, threads: int | None = None) -> None:
        self.catalog = catalog
        self.objects = objects
        self.alias = alias
        self.memory_limit = memory_limit
        self.threads = threads

    def parse(self, sql: str) -> exp.Expression:
        """The one statement in `sql`. Raises QueryFailed (syntax) or InvalidInput (several statements)."""
        try:
            statements = [s for s in sqlglot.parse(sql, read="athena") if s is not None]
        except sqlglot.errors.ParseError as exc:
            err = exc.errors[0] if exc.errors else {}
            where = f"line {err.get('line', 1)}:{err.get('col', 1)}: " if err else ""
            raise QueryFailed(f"SYNTAX_ERROR: {where}{err.get('description', str(exc))}") from exc
        if len(statements) != 1:
            raise InvalidInput(f"Only one sql statement is allowed. Got: {sql.strip()}")
        return statements[0]

    @staticmethod
    def statement_type(tree: exp.Expression) -> str:
        if isinstance(tree, exp.Create | exp.Drop):
            return "DDL"
        if isinstance(tree, exp.Command | exp.Describe):
            return "UTILITY"
        return "DML"

    def run(self, scope: Scope, sql: str, database: str, writer: ResultWriter,
            cancel: threading.Event | None = None,
            on_connection: Callable[[duckdb.DuckDBPyConnection], None] | None = None) -> Outcome:
        tree = self.parse(sql)
        kind = self.statement_type(tree)
        if isinstance(tree, exp.Create):
            self._create(scope, tree, database)
            return Outcome(kind)
        if isinstance(tree, exp.Drop):
            self._drop(scope, tree, database)
            return Outcome(kind)
        if kind == "UTILITY":
            return self._utility(scope, tree, database, writer)
        return self._select(scope, tree, sql, database, writer, cancel, on_connection)

    # DML -------------------------------------------------------------------------------------

    def _select(self, scope: Scope, tree: exp.Expression, sql: str, database: str, writer: ResultWriter,
                cancel: threading.Event | None,
                on_connection: Callable[[duckdb.DuckDBPyConnection], None] | None) -> Outcome:
        con = duckdb.connect(config={"threads": self.threads} if self.threads else {})
        try:
            con.execute("SET TimeZone = 'UTC'")
            if self.memory_limit:
                con.execute(f"SET memory_limit = '{self.memory_limit}'")
            if on_connection is not None:
                on_connection(con)
            with PinnedFiles(self.objects) as files:
                tree = self._bind_tables(scope, tree, sql, database, con, files)
                try:
                    reader = con.sql(sqlmap.to_duckdb(tree)).to_arrow_reader(BATCH_ROWS)
                    columns = [(f.name, athena_type(f.type)) for f in reader.schema]
                    writer.open([n for n, _ in columns])
                    for batch in reader:
                        if cancel is not None and cancel.is_set():
                            raise QueryFailed("USER_CANCELLED: Query was cancelled by user")
                        writer.write(batch)
                except duckdb.Error as exc:
                    raise QueryFailed(sqlmap.athena_error(str(exc), sql)) from exc
                return Outcome("DML", columns, writer.rows, files.bytes, has_rows=True)
        finally:
            con.close()

    def _bind_tables(self, scope: Scope, tree: exp.Expression, sql: str, database: str,
                     con: duckdb.DuckDBPyConnection, files: PinnedFiles) -> exp.Expression:
        ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
        views: dict[tuple[str, str], str] = {}
        for node in list(tree.find_all(exp.Table)):
            name, db = node.name, node.db or database
            if not name or (not node.db and name.lower() in ctes):
                continue
            key = (db.lower(), name.lower())
            if key not in views:
                table = self._lookup(scope, db, name, sql)
                views[key] = f"__kiln_t{len(views)}"
                con.execute(f'CREATE TEMP VIEW "{views[key]}" AS {self._view_sql(table, files, con)}')
            alias = node.alias or name
            node.replace(exp.Table(this=exp.to_identifier(views[key], quoted=True),
                                   alias=exp.TableAlias(this=exp.to_identifier(alias, quoted=True))))
        return tree

    def _lookup(self, scope: Scope, db: str, name: str, sql: str) -> CatalogTable:
        table = self.catalog.find_table(scope, db, name)
        if table is None and self.alias is not None:
            table = self.alias(scope, db, name)
        if table is None:
            raise QueryFailed(f"TABLE_NOT_FOUND: {sqlmap.where(sql, name)}Table 'awsdatacatalog.{db.lower()}."
                              f"{name.lower()}' does not exist")
        return table

    @staticmethod
    def _typed_nulls(columns: list[Column]) -> str:
        cols = ", ".join(f'CAST(NULL AS {sqlmap.duckdb_type(c.type)}) AS "{c.name}"' for c in columns)
        return f"SELECT {cols} WHERE false"

    def _view_sql(self, table: CatalogTable, files: PinnedFiles, con: duckdb.DuckDBPyConnection) -> str:
        paths = files.under(table.location)
        if not paths:
            return self._typed_nulls(table.columns)
        listing = "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"
        if table.format == CSV:
            return self._csv_sql(table, listing)
        probe = con.execute(f"SELECT * FROM read_parquet({listing}, union_by_name = true) LIMIT 0")
        present = {d[0] for d in probe.description or []}
        cols = []
        for c in table.columns:
            dtype = sqlmap.duckdb_type(c.type)
            source = f'"{c.name}"' if c.name in present else "NULL"
            cols.append(f'CAST({source} AS {dtype}) AS "{c.name}"')
        return f"SELECT {', '.join(cols)} FROM read_parquet({listing}, union_by_name = true)"

    @staticmethod
    def _csv_sql(table: CatalogTable, listing: str) -> str:
        def lit(v: str) -> str:
            return "'" + v.replace("'", "''") + "'"

        s = table.serde
        spec = ", ".join(f"{lit(c.name)}: {lit(sqlmap.duckdb_type(c.type))}" for c in table.columns)
        opts = [f"columns = {{{spec}}}", "header = false", f"delim = {lit(s.get('separatorChar', ','))}"]
        if "quoteChar" in s:
            opts.append(f"quote = {lit(s['quoteChar'])}")
        if "escapeChar" in s:
            opts.append(f"escape = {lit(s['escapeChar'])}")
        skip = int(table.parameters.get("skip.header.line.count", "0") or 0)
        if skip:
            opts.append(f"skip = {skip}")
        return f"SELECT * FROM read_csv({listing}, {', '.join(opts)})"

    # DDL -------------------------------------------------------------------------------------

    def _create(self, scope: Scope, tree: exp.Create, database: str) -> None:
        kind = (tree.args.get("kind") or "").upper()
        target = tree.this
        if kind in ("DATABASE", "SCHEMA"):
            name = target.name
            try:
                self.catalog.create_database(scope, CatalogDatabase(name, created_at=time.time()))
            except AlreadyExists:
                if not tree.args.get("exists"):
                    raise QueryFailed(f"Database {name} already exists") from None
            return
        if kind != "TABLE":
            raise QueryFailed(f"NOT_SUPPORTED: CREATE {kind} is not supported by Kiln")
        schema = target if isinstance(target, exp.Schema) else None
        table_node = schema.this if schema is not None else target
        props = tree.args.get("properties")
        location, serde, fmt, params = self._properties(props)
        if tree.expression is not None or location is None:
            raise QueryFailed("NOT_SUPPORTED: Kiln supports CREATE EXTERNAL TABLE ... LOCATION 's3://...' only")
        columns = [Column(c.name, c.args["kind"].sql(dialect="hive").lower() if c.args.get("kind") else "string")
                   for c in (schema.expressions if schema is not None else []) if isinstance(c, exp.ColumnDef)]
        table = CatalogTable(database=table_node.db or database, name=table_node.name, columns=columns,
                             location=location, format=fmt, serde=serde, parameters=params)
        try:
            self.catalog.put_table(scope, table, replace=False)
        except AlreadyExists:
            if not tree.args.get("exists"):
                raise QueryFailed(f"Table {table.name} already exists") from None  # unverified wording
        except NotFound as exc:
            raise QueryFailed(f"SCHEMA_NOT_FOUND: {exc.message}") from exc

    @staticmethod
    def _properties(props: exp.Properties | None) -> tuple[str | None, dict[str, str], str, dict[str, str]]:
        location, serde, fmt, params = None, {}, PARQUET, {}
        for p in props.expressions if props is not None else []:
            if isinstance(p, exp.LocationProperty):
                location = p.this.name
            elif isinstance(p, exp.RowFormatSerdeProperty):
                if "csv" in p.this.name.lower() or "lazysimple" in p.this.name.lower():
                    fmt = CSV
                for kv in (p.args.get("serde_properties") or exp.Properties()).expressions:
                    serde[kv.name] = kv.args["value"].name
            elif isinstance(p, exp.RowFormatDelimitedProperty):
                fmt = CSV
                if p.args.get("fields"):
                    serde["separatorChar"] = p.args["fields"].name
            elif isinstance(p, exp.FileFormatProperty):
                name = p.this.name.upper() if isinstance(p.this, exp.Expression) else str(p.this).upper()
                fmt = CSV if name in ("TEXTFILE", "CSV") else PARQUET
            elif isinstance(p, exp.Property):
                params[p.name] = p.args["value"].name if isinstance(p.args.get("value"), exp.Expression) else ""
        if "separatorChar" in serde:
            serde["separatorChar"] = re.sub(r"^\\t$", "\t", serde["separatorChar"])
        return location, serde, fmt, params

    def _drop(self, scope: Scope, tree: exp.Drop, database: str) -> None:
        kind = (tree.args.get("kind") or "").upper()
        target = tree.this or (tree.args.get("tables") or [None])[0]
        if target is None:
            raise QueryFailed("SYNTAX_ERROR: DROP names nothing")
        try:
            if kind == "TABLE":
                self.catalog.delete_table(scope, target.db or database, target.name)
            elif kind in ("DATABASE", "SCHEMA"):
                self.catalog.delete_database(scope, target.name)
            else:
                raise QueryFailed(f"NOT_SUPPORTED: DROP {kind} is not supported by Kiln")
        except NotFound as exc:
            if not tree.args.get("exists"):
                raise QueryFailed(f"{'TABLE' if kind == 'TABLE' else 'SCHEMA'}_NOT_FOUND: {exc.message}") from exc

    # UTILITY ---------------------------------------------------------------------------------

    def _utility(self, scope: Scope, tree: exp.Expression, database: str, writer: ResultWriter) -> Outcome:
        text = tree.sql(dialect="athena").strip()
        if isinstance(tree, exp.Describe):
            t = tree.this
            table = self._lookup(scope, t.db or database, t.name, text)
            rows = [[f"{c.name}\t{c.type}"] for c in table.columns]
            name = "col_name"
        elif re.match(r"(?i)^SHOW\s+(TABLES|VIEWS)", text):
            rows = [[t.name] for t in self.catalog.tables(scope, database)]
            name = "tab_name"
        elif re.match(r"(?i)^SHOW\s+(DATABASES|SCHEMAS)", text):
            rows = [[d.name] for d in self.catalog.databases(scope)]
            name = "database_name"
        else:
            raise QueryFailed(f"NOT_SUPPORTED: {text.split()[0].upper()} statements are not supported by Kiln")
        writer.open([name])
        writer.write(pa.RecordBatch.from_arrays([pa.array([r[0] for r in rows], pa.string())], names=[name]))
        return Outcome("UTILITY", [(name, "varchar")], len(rows), 0, has_rows=True)
