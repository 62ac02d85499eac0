"""Offline-store rows -> Arrow tables and Parquet files, in SageMaker's layout.

Layout: `<resolved uri>/year=YYYY/month=MM/day=DD/hour=HH/<sealed>_<token>.parquet`, partitioned by the
record's event time (UTC). Columns: every feature (Integral -> int64, Fractional -> double, String ->
string; collections -> lists of those), then `write_time` and `api_invocation_time` (timestamps, UTC,
milliseconds) and `is_deleted` (boolean).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from kiln.services.featurestore.models import (
    API_INVOCATION_TIME,
    IS_DELETED,
    WRITE_TIME,
    FeatureDefinition,
    FeatureGroup,
    FeatureType,
)

_ARROW = {FeatureType.INTEGRAL: pa.int64(), FeatureType.FRACTIONAL: pa.float64(), FeatureType.STRING: pa.string()}
GLUE_TYPES = {FeatureType.INTEGRAL: "bigint", FeatureType.FRACTIONAL: "double", FeatureType.STRING: "string"}
TIMESTAMP = pa.timestamp("ms")


def arrow_type(feature: FeatureDefinition) -> pa.DataType:
    base = _ARROW[feature.type]
    return pa.list_(base) if feature.collection is not None else base


def glue_type(feature: FeatureDefinition) -> str:
    base = GLUE_TYPES[feature.type]
    return f"array<{base}>" if feature.collection is not None else base


def schema(group: FeatureGroup) -> pa.Schema:
    fields = [pa.field(f.name, arrow_type(f)) for f in group.features]
    fields += [pa.field(WRITE_TIME, TIMESTAMP), pa.field(API_INVOCATION_TIME, TIMESTAMP),
               pa.field(IS_DELETED, pa.bool_())]
    return pa.schema(fields)


def from_json(group: FeatureGroup, payloads: Sequence[str], event_times: Sequence[float], api_times: Sequence[float],
              deleted: Sequence[bool], write_time: float) -> tuple[pa.Table, pa.Array]:
    """A batch as an Arrow table, from the buffer's raw JSON payloads, decoded and cast in Arrow (not in
    Python, so a large flush does not hold the GIL against the request path). Returns the table and each
    row's partition (`year=/month=/day=/hour=` of its event time, UTC)."""
    text_schema = pa.schema([pa.field(f.name, pa.list_(pa.string()) if f.collection else pa.string())
                             for f in group.features])
    raw = pajson.read_json(io.BytesIO("\n".join(payloads).encode()), parse_options=pajson.ParseOptions(
        explicit_schema=text_schema, unexpected_field_behavior="ignore"))
    columns = [raw.column(f.name).cast(arrow_type(f)) if f.name in raw.column_names
               else pa.nulls(len(payloads), arrow_type(f)) for f in group.features]
    n = len(payloads)
    columns.append(pa.array([int(write_time * 1000)] * n, type=pa.int64()).cast(TIMESTAMP))
    columns.append(_epoch(api_times, 1000).cast(TIMESTAMP))
    columns.append(pa.array(deleted, type=pa.bool_()))
    instants = _epoch(event_times, 1_000_000).cast(pa.timestamp("us", tz="UTC"))
    parts = pc.strftime(instants, format="year=%Y/month=%m/day=%d/hour=%H")
    return pa.Table.from_arrays(columns, schema=schema(group)), parts


def _epoch(seconds: Sequence[float], scale: int) -> pa.Array:
    """Epoch seconds as integer `1/scale` seconds (floored, as datetime.fromtimestamp does)."""
    return pc.cast(pc.floor(pc.multiply(pa.array(seconds, pa.float64()), scale)), pa.int64(), safe=False)


def split(table: pa.Table, parts: pa.Array) -> dict[str, pa.Table]:
    """The rows of `table` per partition (sorted by partition)."""
    return {p: table.filter(pc.equal(parts, p)) for p in sorted(pc.unique(parts).to_pylist())}


def file_name(sealed_at: float, token: str) -> str:
    return datetime.fromtimestamp(sealed_at, tz=UTC).strftime("%Y%m%dT%H%M%SZ") + f"_{token}.parquet"
