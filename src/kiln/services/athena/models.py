"""Glue Data Catalog and Athena domain objects (no AWS shapes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

PARQUET = "parquet"
CSV = "csv"


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str  # Hive/Glue type name: string, bigint, double, boolean, timestamp, array<string>, ...
    comment: str | None = None


@dataclass(slots=True)
class CatalogDatabase:
    name: str
    description: str | None = None
    location: str | None = None
    parameters: dict[str, str] = field(default_factory=dict)
    created_at: float = 0.0


@dataclass(slots=True)
class CatalogTable:
    """A table over files in the object store. `format` is PARQUET or CSV; `serde` holds CSV options."""

    database: str
    name: str
    columns: list[Column]
    location: str
    format: str = PARQUET
    serde: dict[str, str] = field(default_factory=dict)
    parameters: dict[str, str] = field(default_factory=dict)
    partition_keys: list[Column] = field(default_factory=list)
    table_type: str = "EXTERNAL_TABLE"
    description: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0


class QueryState(StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


TERMINAL = frozenset({QueryState.SUCCEEDED, QueryState.FAILED, QueryState.CANCELLED})


@dataclass(slots=True)
class QueryExecution:
    id: str
    query: str
    statement_type: str  # DDL | DML | UTILITY
    catalog: str
    database: str
    output_location: str | None  # the result file's URI: <OutputLocation>/<id>.csv
    workgroup: str
    state: QueryState
    submitted_at: float
    completed_at: float | None = None
    state_reason: str | None = None
    error_category: int | None = None
    error_type: int | None = None
    engine_ms: int | None = None
    scanned_bytes: int = 0
    rows: int | None = None
    kms_key: str | None = None
    columns: list[tuple[str, str]] = field(default_factory=list)  # (name, Athena type)
