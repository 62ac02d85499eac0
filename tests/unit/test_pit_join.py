"""Kiln's point-in-time join, pinned by a table: (entity key, entity time, options) -> feature value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kiln.services.featurestore.pit_join import FeatureSource, pit_join

T = pa.timestamp("ms")
W1, W2 = 1_000, 2_000  # write times (ms): W2 is the later write

HISTORY = pa.table({
    "id": ["A", "A", "A", "B", "B", "C", "E"],
    "et": ["2026-01-01T00:00:00Z", "2026-01-03T00:00:00Z", "2026-01-03T00:00:00Z", "2026-01-02T00:00:00Z",
           "2026-01-04T00:00:00Z", "2026-01-05T00:00:00Z", "2026-01-01T00:00:00.500Z"],
    "v": [1.0, 3.0, 3.5, 20.0, None, 50.0, 7.0],
    "write_time": pa.array([W1, W1, W2, W1, W1, W1, W1], pa.int64()).cast(T),
    "api_invocation_time": pa.array([W1, W1, W2, W1, W1, W1, W1], pa.int64()).cast(T),
    "is_deleted": [False, False, False, False, True, False, False],
})

CASES: list[tuple[str, str, str, dict[str, Any], float | None]] = [
    # (case, entity id, entity time, options, expected v)
    ("before-any-event", "A", "2025-12-31T00:00:00Z", {}, None),
    ("event-time-equal-is-included", "A", "2026-01-01T00:00:00Z", {}, 1.0),
    ("latest-before", "A", "2026-01-02T12:00:00Z", {}, 1.0),
    ("tie-latest-write-wins", "A", "2026-01-03T00:00:00Z", {}, 3.5),
    ("value-before-delete", "B", "2026-01-03T00:00:00Z", {}, 20.0),
    ("deleted-excluded", "B", "2026-01-04T00:00:00Z", {}, None),
    ("deleted-excluded-later", "B", "2026-02-01T00:00:00Z", {}, None),
    ("deleted-included-when-asked", "B", "2026-02-01T00:00:00Z", {"include_deleted": True}, 20.0),
    ("future-never-leaks", "C", "2026-01-04T23:59:59Z", {}, None),
    ("unknown-entity", "D", "2026-01-10T00:00:00Z", {}, None),
    ("ttl-stale", "A", "2026-01-10T00:00:00Z", {"ttl": 86400.0}, None),
    ("ttl-fresh", "A", "2026-01-10T00:00:00Z", {"ttl": 8 * 86400.0}, 3.5),
    ("milliseconds", "E", "2026-01-01T00:00:00.499Z", {}, None),
    ("milliseconds-equal", "E", "2026-01-01T00:00:00.500Z", {}, 7.0),
]


@pytest.mark.parametrize(("case", "entity", "at", "options", "expected"), CASES, ids=[c[0] for c in CASES])
def test_pit_join_table(case: str, entity: str, at: str, options: dict[str, Any], expected: float | None) -> None:
    ttl = options.get("ttl")
    source = FeatureSource(HISTORY, key="id", event_time="et", features=["v"], ttl=ttl)
    out = pit_join(pa.table({"id": [entity], "ts": [at]}), "id", "ts", [source],
                   include_deleted=options.get("include_deleted", False))
    assert out.column("v").to_pylist() == [expected], case


def test_one_row_per_entity_row_in_order_and_types_mixed(tmp_path: Path) -> None:
    """Entity times as epoch seconds, history read from Parquet files, two sources, duplicate entity rows."""
    pq.write_table(HISTORY.slice(0, 3), tmp_path / "a.parquet")
    pq.write_table(HISTORY.slice(3), tmp_path / "b.parquet")
    other = pa.table({"cust": ["A", "B"], "t": [1767225600.0, 1767225600.0], "score": [0.1, 0.2]})  # 2026-01-01
    entities = pa.table({"id": ["B", "A", "A", "Z", "B"],
                         "ts": [1767312000.0, 1767398400.0, 1767225600.0, 1767398400.0, 1767484800.0],
                         "label": [1, 0, 1, 0, 1]})
    out = pit_join(entities, "id", "ts", [
        FeatureSource([str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet")], "id", "et", ["v"]),
        FeatureSource(other, "cust", "t", ["score"], prefix="g2_", write_time=None, api_time=None, is_deleted=None),
    ])
    assert out.column_names == ["id", "ts", "label", "v", "g2_score"]
    assert out.column("id").to_pylist() == ["B", "A", "A", "Z", "B"]
    assert out.column("label").to_pylist() == [1, 0, 1, 0, 1]
    assert out.column("v").to_pylist() == [20.0, 3.5, 1.0, None, None]
    assert out.column("g2_score").to_pylist() == [0.2, 0.1, 0.1, None, 0.2]
