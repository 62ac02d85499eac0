"""Record type checks and the offline buffer's crash safety (no server)."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from kiln.core.errors import InvalidInput
from kiln.core.scope import Scope
from kiln.core.state.db import Database
from kiln.services.featurestore import tables
from kiln.services.featurestore.models import (
    FeatureDefinition,
    FeatureGroup,
    FeatureType,
    GroupStatus,
    OfflineConfig,
    OfflineRow,
)
from kiln.services.featurestore.offline import OfflineStore
from kiln.services.featurestore.values import parse_event_time, parse_record
from kiln.services.s3 import tables as s3_tables
from kiln.services.s3.store import ObjectStore

GROUP = FeatureGroup(
    scope=Scope("123456789012", "us-east-1"), name="g", store_id="s1", record_id_name="id", event_time_name="et",
    features=[FeatureDefinition("id", FeatureType.STRING), FeatureDefinition("et", FeatureType.STRING),
              FeatureDefinition("n", FeatureType.INTEGRAL), FeatureDefinition("x", FeatureType.FRACTIONAL)],
    online=None, offline=OfflineConfig("s3://bkt/fs", "s3://bkt/fs/123456789012/sagemaker/us-east-1/offline-store/g-1/data",
                                       "AwsDataCatalog", "sagemaker_featurestore", "g_1"),
    status=GroupStatus.CREATED, created_at=1.0, modified_at=1.0)

OK = [("id", "a"), ("et", "2026-06-06T10:00:00Z")]
RECORDS = [
    # (case, pairs, error fragment or None)
    ("minimal", OK, None),
    ("all-types", [*OK, ("n", "-42"), ("x", "1e3")], None),
    ("millis", [("id", "a"), ("et", "2026-06-06T10:00:00.123Z")], None),
    ("integral-not-float", [*OK, ("n", "5.0")], "type Integral"),
    ("integral-overflow", [*OK, ("n", str(2**63))], "type Integral"),
    ("fractional-not-number", [*OK, ("x", "abc")], "type Fractional"),
    ("fractional-nan", [*OK, ("x", "nan")], "type Fractional"),
    ("unknown-feature", [*OK, ("zzz", "1")], "does not exist"),
    ("duplicate-feature", [*OK, ("n", "1"), ("n", "2")], "more than once"),
    ("missing-id", [("et", "2026-06-06T10:00:00Z")], "'id'"),
    ("missing-event-time", [("id", "a")], "'et'"),
    ("event-time-no-zone", [("id", "a"), ("et", "2026-06-06T10:00:00")], "EventTime"),
    ("event-time-offset", [("id", "a"), ("et", "2026-06-06T10:00:00+00:00")], "EventTime"),
    ("event-time-bad-date", [("id", "a"), ("et", "2026-02-30T10:00:00Z")], "EventTime"),
    ("list-for-scalar", [*OK, ("n", ["1"])], "not a collection"),
]


@pytest.mark.parametrize(("case", "pairs", "error"), RECORDS, ids=[r[0] for r in RECORDS])
def test_record_validation(case: str, pairs: list, error: str | None) -> None:
    if error is None:
        parsed = parse_record(GROUP, pairs)
        assert parsed.record_id == "a"
    else:
        with pytest.raises(InvalidInput, match=error):
            parse_record(GROUP, pairs)


def test_event_time_forms() -> None:
    assert parse_event_time("1970-01-01T00:00:01.500Z", FeatureType.STRING) == 1.5
    assert parse_event_time("1700000000.25", FeatureType.FRACTIONAL) == 1700000000.25
    with pytest.raises(InvalidInput):
        parse_event_time("inf", FeatureType.FRACTIONAL)


def _stores(tmp_path: Path) -> tuple[Database, ObjectStore, OfflineStore]:
    db = Database(f"sqlite:///{tmp_path / 'kiln.db'}")
    db.migrate([*s3_tables.MIGRATIONS, *tables.MIGRATIONS])
    objects = ObjectStore(db, tmp_path / "objects")
    objects.create_bucket("bkt", "123456789012", "us-east-1")
    return db, objects, OfflineStore(db, objects, lambda sid: GROUP if sid == "s1" else None, max_rows=3)


def _rows(objects: ObjectStore) -> list[tuple[str, str | None]]:
    out = []
    for info in objects.list("bkt", "fs/"):
        with objects.open("bkt", info.key) as f:
            table = pq.read_table(f)
        out += list(zip(table.column("id").to_pylist(), table.column("n").to_pylist(), strict=True))
    return sorted(out)


def test_offline_flush_batches_partitions_and_replays_a_sealed_batch_exactly_once(tmp_path: Path) -> None:
    db, objects, store = _stores(tmp_path)
    rows = [OfflineRow({"id": f"r{i}", "et": f"2026-06-06T{10 + i % 2:02d}:00:00Z", "n": str(i)},
                       1780740000.0 + 3600 * (i % 2), 1.0) for i in range(5)]
    store.append("s1", rows)
    # A crash after sealing and writing a batch, before retiring it: the batch is still there.
    batch = store._seal("s1")
    assert store._write_batch(GROUP, batch) == 3
    # Pretend the retire step never committed: put the rows back under the batch, then recover.
    with db.tx() as conn:
        conn.execute(tables.offline_batches.insert().values(id=batch.id, store_id="s1", token=batch.token,
                                                            sealed_at=batch.sealed_at, rows=3))
        conn.execute(tables.offline_buffer.insert(), [
            {"store_id": "s1", "batch_id": batch.id, "payload": r.values, "event_time": r.event_time,
             "api_time": r.api_time, "is_deleted": False} for r in rows[:3]])
    assert store.flush() == 5  # the replayed batch (same keys) + the remaining 2 rows
    assert _rows(objects) == sorted((f"r{i}", i) for i in range(5))
    keys = [i.key for i in objects.list("bkt", "fs/")]
    assert any("/year=2026/month=06/day=06/hour=10/" in k for k in keys)
    assert any("/year=2026/month=06/day=06/hour=11/" in k for k in keys)
    assert all(k.startswith("fs/123456789012/sagemaker/us-east-1/offline-store/g-1/data/") for k in keys)
    assert store.pending() == 0 and store.stats("s1")[0] == 8  # 3 counted twice: the replay rewrote them


def test_offline_rows_of_a_vanished_group_are_dropped(tmp_path: Path) -> None:
    _, _, store = _stores(tmp_path)
    store.append("gone", [OfflineRow({"id": "a", "et": "2026-06-06T10:00:00Z"}, 1.0, 1.0)])
    assert store.flush() == 0 and store.pending() == 0


def test_offline_rows_decode_in_arrow_with_types_collections_and_partitions() -> None:
    from dataclasses import replace

    from kiln.services.featurestore import parquet
    from kiln.services.featurestore.models import CollectionType

    group = replace(GROUP, features=[*GROUP.features, FeatureDefinition("tags", FeatureType.INTEGRAL,
                                                                        CollectionType.LIST)])
    table, parts = parquet.from_json(
        group, ['{"id": "a", "et": "2026-06-06T10:00:00Z", "n": "7", "tags": ["1", "2"]}',
                '{"id": "b", "et": "2026-06-06T11:59:59.999Z", "x": "1.5"}'],
        [1780740000.0, 1780747199.999], [1780740001.25, 1780740002.0], [False, True], 1780740003.0)
    assert table.column("n").to_pylist() == [7, None] and table.column("x").to_pylist() == [None, 1.5]
    assert table.column("tags").to_pylist() == [[1, 2], None]
    assert table.column("is_deleted").to_pylist() == [False, True]
    assert table.column("api_invocation_time")[0].as_py().isoformat() == "2026-06-06T10:00:01.250000"
    assert parts.to_pylist() == ["year=2026/month=06/day=06/hour=10", "year=2026/month=06/day=06/hour=11"]
    assert [len(t) for t in parquet.split(table, parts).values()] == [1, 1]
