"""The point-in-time join: Kiln's one implementation (pinned by tests/unit/test_pit_join.py).

For every entity row (key, time) and every feature source, take the source's row with the same key
and the latest event time at or before the entity's time:

* `event_time <= entity_time` (never a value from the entity's future);
* among rows with that event time, the latest write wins (`write_time`; `api_invocation_time` when the
  source has no `write_time`);
* if that row is a delete marker (`is_deleted`), the entity gets no values (the record did not
  exist then), unless `include_deleted`: then delete markers are ignored and the last value written
  before the delete is used;
* with a `ttl` (seconds), a value older than `entity_time - ttl` is not used;
* exactly one output row per entity row, in the entity rows' order; missing values are NULL.

Times may be ISO-8601 strings, epoch seconds or timestamps (compared as UTC instants). DuckDB runs it
as an ASOF join over Arrow tables or Parquet files, streaming, so sources much larger than memory work.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa


@dataclass(frozen=True, slots=True)
class FeatureSource:
    """One feature group's history: an Arrow table, or Parquet file paths."""

    data: pa.Table | Sequence[str]
    key: str
    event_time: str
    features: Sequence[str]
    prefix: str = ""  # output column = prefix + feature name
    ttl: float | None = None
    write_time: str | None = "write_time"
    api_time: str | None = "api_invocation_time"
    is_deleted: str | None = "is_deleted"
    key_in_entity: str | None = None  # entity column to match `key` (default: the entity key)


@dataclass(slots=True)
class _Bound:
    name: str
    columns: set[str] = field(default_factory=set)
    types: dict[str, str] = field(default_factory=dict)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _instant(expr: str, dtype: str) -> str:
    t = dtype.upper()
    if t.startswith(("VARCHAR", "STRING")):
        return f"CAST({expr} AS TIMESTAMPTZ)"
    if t.startswith("TIMESTAMP"):
        return f"CAST({expr} AS TIMESTAMPTZ)"
    return f"TO_TIMESTAMP(CAST({expr} AS DOUBLE))"


def _register(con: duckdb.DuckDBPyConnection, name: str, data: pa.Table | Sequence[str]) -> _Bound:
    if isinstance(data, pa.Table):
        con.register(name + "_src", data)
        con.execute(f"CREATE TEMP VIEW {name} AS SELECT * FROM {name}_src")
    else:
        listing = "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in data) + "]"
        con.execute(f"CREATE TEMP VIEW {name} AS SELECT * FROM read_parquet({listing}, union_by_name = true)")
    desc = con.execute(f"SELECT * FROM {name} LIMIT 0").description or []
    return _Bound(name, {d[0] for d in desc}, {d[0]: str(d[1]) for d in desc})


def pit_join(entities: pa.Table, key: str, time: str, sources: Sequence[FeatureSource], *,
             include_deleted: bool = False, memory_limit: str | None = None) -> pa.Table:
    """The entity rows with each source's features as of each row's time (see the module docstring)."""
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        if memory_limit:
            con.execute(f"SET memory_limit = '{memory_limit}'")
        ent = _register(con, "entities", entities)
        # The entity's probe sorts after every write at its own instant (the +TIE-1 below).
        con.execute(f"CREATE TEMP VIEW e AS SELECT *, {_order_key(_instant(_q(time), ent.types[time]))} + {_TIE - 1} "
                    f"AS __k, {_instant(_q(time), ent.types[time])} AS __t, row_number() OVER () AS __row "
                    f"FROM entities")
        select = [f"e.{_q(c)}" for c in entities.column_names]
        joins = []
        for i, src in enumerate(sources):
            view = _history(con, f"f{i}", src, include_deleted)
            stale = f" OR f{i}.__t < e.__t - to_seconds({float(src.ttl)})" if src.ttl is not None else ""
            for feat in src.features:
                select.append(f"CASE WHEN f{i}.__deleted{stale} THEN NULL ELSE f{i}.{_q(feat)} END "
                              f"AS {_q(src.prefix + feat)}")
            entity_key = src.key_in_entity or key
            joins.append(f"ASOF LEFT JOIN {view} f{i} ON e.{_q(entity_key)} = f{i}.{_q(src.key)} "
                         f"AND e.__k >= f{i}.__k")
        sql = f"SELECT {', '.join(select)} FROM e {' '.join(joins)} ORDER BY e.__row"
        return con.sql(sql).to_arrow_table()
    finally:
        con.close()


# One ordering key per row: the event instant (microseconds) then the write time (milliseconds), so the
# ASOF join's "greatest key at or before" is "latest event time, then latest write" with no window pass.
_TIE = 10**13  # write times in ms stay below this (until the year 2286)


def _order_key(instant: str) -> str:
    return f"CAST(epoch_us({instant}) AS HUGEINT) * {_TIE}"


def _history(con: duckdb.DuckDBPyConnection, name: str, src: FeatureSource, include_deleted: bool) -> str:
    """A view of the source with its ordering key and delete flag (delete markers dropped if included)."""
    raw = _register(con, name + "_raw", src.data)
    tie = next((c for c in (src.write_time, src.api_time) if c and c in raw.columns), None)
    tie_ms = f" + coalesce(epoch_ms(CAST({_q(tie)} AS TIMESTAMP)), 0)" if tie else ""
    deleted = f"coalesce({_q(src.is_deleted)}, false)" if src.is_deleted and src.is_deleted in raw.columns \
        else "false"
    instant = _instant(_q(src.event_time), raw.types[src.event_time])
    cols = ", ".join(_q(c) for c in dict.fromkeys([src.key, *src.features]))
    where = f"WHERE NOT {deleted}" if include_deleted else ""
    con.execute(f"CREATE TEMP VIEW {name} AS SELECT {cols}, {instant} AS __t, {_order_key(instant)}{tie_ms} AS __k, "
                f"{deleted} AS __deleted FROM {raw.name} {where}")
    return name
