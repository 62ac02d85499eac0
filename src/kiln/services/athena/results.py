"""Query results as Athena renders them: text values, Athena type names, a CSV file, and pages.

Every value is turned into Athena's text once (timestamps `2026-06-06 10:00:00.000`, doubles with a
decimal point, booleans `true`/`false`, arrays `[1, 2]`, NULL as no value). The same text goes to
the CSV in the output location (every value quoted, NULL empty, as Athena writes it) and to a local
Parquet copy that GetQueryResults pages through.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

# Athena's ColumnInfo.Precision per type (Trino's display sizes); Scale is 0 except for decimals.
_PRECISION = {"varchar": 2147483647, "bigint": 19, "integer": 10, "smallint": 5, "tinyint": 3, "double": 17,
              "float": 17, "boolean": 0, "date": 0, "timestamp": 3, "timestamp with time zone": 3}


def athena_type(t: pa.DataType) -> str:
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_int8(t):
        return "tinyint"
    if pa.types.is_int16(t):
        return "smallint"
    if pa.types.is_int32(t) or pa.types.is_uint8(t) or pa.types.is_uint16(t):
        return "integer"
    if pa.types.is_integer(t):
        return "bigint"
    if pa.types.is_float32(t):
        return "float"
    if pa.types.is_floating(t):
        return "double"
    if pa.types.is_decimal(t):
        return "decimal"
    if pa.types.is_timestamp(t):
        return "timestamp with time zone" if t.tz else "timestamp"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return "array"
    if pa.types.is_struct(t):
        return "row"
    if pa.types.is_map(t):
        return "map"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return "varbinary"
    if pa.types.is_null(t):
        return "unknown"
    return "varchar"


def column_info(name: str, atype: str) -> dict[str, Any]:
    return {"CatalogName": "hive", "SchemaName": "", "TableName": "", "Name": name, "Label": name, "Type": atype,
            "Precision": _PRECISION.get(atype, 0), "Scale": 0, "Nullable": "UNKNOWN",
            "CaseSensitive": atype == "varchar"}


def _py_text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, list):
        return "[" + ", ".join("null" if x is None else _py_text(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}={_py_text(x)}" for k, x in v.items()) + "}"
    return str(v)


def _text(col: pa.Array) -> pa.Array:
    t = col.type
    if pa.types.is_null(t):
        return pa.nulls(len(col), pa.string())
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return col.cast(pa.string())
    if pa.types.is_boolean(t):
        return pc.if_else(col, "true", "false")
    if pa.types.is_timestamp(t):
        ms = col.cast(pa.timestamp("ms", tz=t.tz)) if t.unit != "ms" else col
        naive = ms.cast(pa.timestamp("ms")) if t.tz else ms
        text = pc.strftime(naive, format="%Y-%m-%d %H:%M:%S")
        text = pc.utf8_slice_codeunits(text, 0, 23)  # pyarrow prints .mmm for ms precision
        return pc.binary_join_element_wise(text, pa.scalar(" UTC"), "") if t.tz else text
    if pa.types.is_floating(t):
        text = col.cast(pa.string())
        whole = pc.match_substring_regex(text, r"^-?\d+$")
        return pc.if_else(whole, pc.binary_join_element_wise(text, pa.scalar(".0"), ""), text)
    if pa.types.is_integer(t) or pa.types.is_decimal(t) or pa.types.is_date(t):
        return col.cast(pa.string())
    return pa.array([None if v is None else _py_text(v) for v in col.to_pylist()], type=pa.string())


def to_text(batch: pa.RecordBatch) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([_text(c) for c in batch.columns],
                                      schema=pa.schema([pa.field(n, pa.string()) for n in batch.schema.names]))


@dataclass(slots=True)
class ResultWriter:
    """Streams text batches into the CSV (for the output location) and the local page file."""

    csv_path: Path
    page_path: Path
    _csv: Any = None
    _pages: Any = None
    rows: int = 0

    def open(self, names: list[str]) -> None:
        schema = pa.schema([pa.field(n, pa.string()) for n in names])
        self._csv = pacsv.CSVWriter(str(self.csv_path), schema,
                                    write_options=pacsv.WriteOptions(include_header=True, quoting_style="all_valid"))
        self._pages = pq.ParquetWriter(str(self.page_path), schema, compression="zstd")

    def write(self, batch: pa.RecordBatch) -> None:
        text = to_text(batch)
        self._csv.write_batch(text)
        self._pages.write_batch(text, row_group_size=1000)
        self.rows += batch.num_rows

    def close(self) -> None:
        for w in (self._csv, self._pages):
            if w is not None:
                w.close()


def metadata_json(columns: list[tuple[str, str]], rows: int) -> bytes:
    """Kiln's `<id>.csv.metadata` (Athena writes its own binary format there; clients do not read it)."""
    return json.dumps({"columns": [column_info(n, t) for n, t in columns], "rows": rows}).encode()


def read_page(page_path: Path, offset: int, limit: int) -> Iterator[list[str | None]]:
    """Rows `offset`..`offset+limit` of the local page file (reads only the row groups it needs)."""
    pf = pq.ParquetFile(str(page_path))
    start = 0
    wanted_end = offset + limit
    for i in range(pf.num_row_groups):
        n = pf.metadata.row_group(i).num_rows
        end = start + n
        if end > offset and start < wanted_end:
            table = pf.read_row_group(i)
            lo, hi = max(offset - start, 0), min(wanted_end - start, n)
            cols = [c.to_pylist() for c in table.slice(lo, hi - lo).columns]
            yield from (list(r) for r in zip(*cols, strict=True)) if cols else iter(())
        start = end
        if start >= wanted_end:
            return
