"""Offline-store rows -> Arrow tables and Parquet files, in SageMaker's layout.

Layout: `<resolved uri>/year=YYYY/month=MM/day=DD/hour=HH/<sealed>_<token>.parquet`, partitioned by the
record's event time (UTC). Columns: every feature (Integral -> int64, Fractional -> double, String ->
string; collections -> lists of those), then `write_time` and `api_invocation_time` (timestamps, UTC,
milliseconds) and `is_deleted` (boolean).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

import pyarrow as pa

from kiln.services.featurestore.models import (
    API_INVOCATION_TIME,
    IS_DELETED,
    WRITE_TIME,
    FeatureDefinition,
    FeatureGroup,
    FeatureType,
    OfflineRow,
)
from kiln.services.featurestore.values import typed

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


def partition(event_time: float) -> str:
    dt = datetime.fromtimestamp(event_time, tz=UTC)
    return f"year={dt.year:04d}/month={dt.month:02d}/day={dt.day:02d}/hour={dt.hour:02d}"


def by_partition(rows: Iterable[OfflineRow]) -> dict[str, list[OfflineRow]]:
    out: dict[str, list[OfflineRow]] = defaultdict(list)
    for row in rows:
        out[partition(row.event_time)].append(row)
    return dict(sorted(out.items()))


def to_table(group: FeatureGroup, rows: Sequence[OfflineRow], write_time: float) -> pa.Table:
    sch = schema(group)
    columns: list[pa.Array] = []
    for f in group.features:
        columns.append(pa.array([typed(f, r.values.get(f.name)) for r in rows], type=arrow_type(f)))
    written = int(write_time * 1000)
    columns.append(pa.array([written] * len(rows), type=pa.int64()).cast(TIMESTAMP))
    columns.append(pa.array([int(r.api_time * 1000) for r in rows], type=pa.int64()).cast(TIMESTAMP))
    columns.append(pa.array([r.is_deleted for r in rows], type=pa.bool_()))
    return pa.Table.from_arrays(columns, schema=sch)


def file_name(sealed_at: float, token: str) -> str:
    return datetime.fromtimestamp(sealed_at, tz=UTC).strftime("%Y%m%dT%H%M%SZ") + f"_{token}.parquet"
