"""MetricStore and the extended statistics, against SQLite in tmp_path (no server)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from kiln.core.scope import Scope
from kiln.core.state.db import Database
from kiln.services.metrics import stats
from kiln.services.metrics.models import Datum, StatisticSet
from kiln.services.metrics.store import MetricStore
from kiln.services.metrics.tables import MIGRATIONS

SCOPE = Scope("123456789012", "us-east-1")
OTHER = Scope("123456789012", "eu-west-1")
NS = "/aws/sagemaker/TrainingJobs"
T0 = 1_700_000_040.0  # a minute boundary


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> MetricStore:
    db = Database(f"sqlite:///{tmp_path / 'kiln.db'}")
    db.migrate(MIGRATIONS)
    return MetricStore(db, clock=clock)


def job(name: str) -> tuple[tuple[str, str], ...]:
    return (("TrainingJobName", name),)


def test_migration_is_idempotent(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'k.db'}")
    assert db.migrate(MIGRATIONS) == ["metrics-0001-series-dimensions-points"]
    assert db.migrate(MIGRATIONS) == []


def test_statistics_aggregate_per_period(store: MetricStore) -> None:
    store.put(SCOPE, [Datum(NS, "loss", job("j1"), T0 + s, v) for s, v in ((1, 1.0), (20, 2.0), (59, 6.0))])
    store.put(SCOPE, [Datum(NS, "loss", job("j1"), T0 + 61, 10.0)])
    out = store.statistics(SCOPE, NS, "loss", {"TrainingJobName": "j1"}, T0, T0 + 180, 60,
                           ["Average", "p50"])
    assert out == [
        {"Timestamp": T0, "SampleCount": 3.0, "Sum": 9.0, "Average": 3.0, "Minimum": 1.0, "Maximum": 6.0,
         "p50": 2.0},
        {"Timestamp": T0 + 60, "SampleCount": 1.0, "Sum": 10.0, "Average": 10.0, "Minimum": 10.0,
         "Maximum": 10.0, "p50": 10.0},
    ]


def test_time_range_is_start_inclusive_end_exclusive(store: MetricStore) -> None:
    store.put(SCOPE, [Datum(NS, "m", (), T0, 1.0), Datum(NS, "m", (), T0 + 120, 2.0)])
    out = store.statistics(SCOPE, NS, "m", {}, T0, T0 + 120, 60, ["Sum"])
    assert [p["Sum"] for p in out] == [1.0]


def test_dimensions_match_exactly_and_in_any_order(store: MetricStore) -> None:
    ab = (("EndpointName", "ep"), ("VariantName", "AllTraffic"))
    store.put(SCOPE, [Datum("AWS/SageMaker", "Invocations", ab, T0, 1.0),
                      Datum("AWS/SageMaker", "Invocations", (("EndpointName", "ep"),), T0, 100.0),
                      Datum("AWS/SageMaker", "Invocations", tuple(reversed(ab)), T0 + 1, 2.0)])
    both = store.statistics(SCOPE, "AWS/SageMaker", "Invocations",
                            {"VariantName": "AllTraffic", "EndpointName": "ep"}, T0, T0 + 60, 60, ["Sum"])
    assert [p["Sum"] for p in both] == [3.0]
    one = store.statistics(SCOPE, "AWS/SageMaker", "Invocations", {"EndpointName": "ep"}, T0, T0 + 60, 60,
                           ["Sum"])
    assert [p["Sum"] for p in one] == [100.0]
    assert store.statistics(SCOPE, "AWS/SageMaker", "Invocations", {}, T0, T0 + 60, 60, ["Sum"]) == []


def test_scopes_are_separate(store: MetricStore) -> None:
    store.put(SCOPE, [Datum(NS, "m", job("j"), T0, 1.0)])
    store.put(OTHER, [Datum(NS, "m", job("j"), T0, 5.0)])
    assert store.series(SCOPE, NS, "m", {"TrainingJobName": "j"}) == [(T0, 1.0)]
    assert store.series(OTHER, NS, "m", {"TrainingJobName": "j"}) == [(T0, 5.0)]


def test_series_is_ordered_and_counts_are_weights(store: MetricStore) -> None:
    store.put(SCOPE, [Datum(NS, "m", (), T0 + 5, 3.0), Datum(NS, "m", (), T0 + 1, 1.0, count=4)])
    assert store.series(SCOPE, NS, "m", {}) == [(T0 + 1, 1.0), (T0 + 5, 3.0)]
    [p] = store.statistics(SCOPE, NS, "m", {}, T0, T0 + 60, 60, ["p50"])
    assert (p["SampleCount"], p["Sum"], p["p50"]) == (5.0, 7.0, 1.0)


def test_statistic_sets(store: MetricStore) -> None:
    store.put(SCOPE, [StatisticSet(NS, "lat", (), T0, 4, 20.0, 1.0, 9.0),
                      Datum(NS, "lat", (), T0 + 1, 0.5)])
    [p] = store.statistics(SCOPE, NS, "lat", {}, T0, T0 + 60, 60, ["p90"])
    assert (p["SampleCount"], p["Sum"], p["Minimum"], p["Maximum"]) == (5.0, 20.5, 0.5, 9.0)
    assert "p90" not in p  # percentiles need raw values
    # A set equivalent to raw values keeps percentiles available.
    store.put(SCOPE, [StatisticSet(NS, "lat2", (), T0, 3, 6.0, 2.0, 2.0)])
    [q] = store.statistics(SCOPE, NS, "lat2", {}, T0, T0 + 60, 60, ["p90"])
    assert q["p90"] == 2.0 and q["SampleCount"] == 3.0


def test_units_are_split_or_filtered(store: MetricStore) -> None:
    store.put(SCOPE, [Datum(NS, "m", (), T0, 1.0, "Seconds"), Datum(NS, "m", (), T0 + 2, 1000.0, "Milliseconds")])
    split = store.datapoints(SCOPE, NS, "m", {}, T0, T0 + 60, 60)
    assert sorted((p.unit, p.sum) for p in split) == [("Milliseconds", 1000.0), ("Seconds", 1.0)]
    only = store.datapoints(SCOPE, NS, "m", {}, T0, T0 + 60, 60, unit="Seconds")
    assert [(p.unit, p.sum) for p in only] == [("Seconds", 1.0)]
    assert store.datapoints(SCOPE, NS, "m", {}, T0, T0 + 60, 60, unit="Bytes") == []


def test_non_finite_values_are_dropped(store: MetricStore) -> None:
    store.put(SCOPE, [Datum(NS, "m", (), T0, float("nan")), Datum(NS, "m", (), T0, 2.0)])
    assert store.series(SCOPE, NS, "m", {}) == [(T0, 2.0)]


def test_steps_are_kept(store: MetricStore) -> None:
    store.put(SCOPE, [Datum(NS, "acc", (), T0 + i, 0.1 * i, step=i) for i in range(3)])
    assert [p.step for p in store.raw(SCOPE, NS, "acc", {})] == [0, 1, 2]


def test_list_metrics_filters_and_pages(store: MetricStore, clock: Clock) -> None:
    data = [Datum("App", f"m{i}", (("Host", f"h{i % 3}"), ("Env", "prod")), T0, 1.0) for i in range(7)]
    store.put(SCOPE, [*data, Datum("Other", "x", (), T0, 1.0)])
    page, cursor = store.list_metrics(SCOPE, namespace="App", limit=5)
    assert [m.name for m in page] == ["m0", "m1", "m2", "m3", "m4"] and cursor is not None
    rest, cursor2 = store.list_metrics(SCOPE, namespace="App", after=cursor, limit=5)
    assert [m.name for m in rest] == ["m5", "m6"] and cursor2 is None
    assert page[0].dimensions == (("Env", "prod"), ("Host", "h0"))
    h1, _ = store.list_metrics(SCOPE, filters=[("Host", "h1")])
    assert [m.name for m in h1] == ["m1", "m4"]
    any_host, _ = store.list_metrics(SCOPE, filters=[("Host", None), ("Env", "prod")])
    assert len(any_host) == 7
    assert store.list_metrics(OTHER)[0] == []
    clock.now = T0 + 4 * 3600
    store.put(SCOPE, [Datum("App", "m6", (("Host", "h0"), ("Env", "prod")), clock.now, 2.0)])
    recent, _ = store.list_metrics(SCOPE, active_since=clock.now - 3 * 3600)
    assert [m.name for m in recent] == ["m6"]
    assert store.count_series() == 8


def test_series_cache_survives_a_new_store(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'k.db'}")
    db.migrate(MIGRATIONS)
    MetricStore(db).put(SCOPE, [Datum(NS, "m", job("j"), T0, 1.0)])
    again = MetricStore(db)
    again.put(SCOPE, [Datum(NS, "m", job("j"), T0 + 1, 2.0)])
    assert again.series(SCOPE, NS, "m", {"TrainingJobName": "j"}) == [(T0, 1.0), (T0 + 1, 2.0)]
    assert again.count_series() == 1


def test_reads_stay_fast_on_many_rows(store: MetricStore) -> None:
    dims = (("EndpointName", "ep"), ("VariantName", "AllTraffic"))
    for chunk in range(5):
        store.put(SCOPE, [Datum("AWS/SageMaker", "ModelLatency", dims, T0 + chunk * 1000 + i * 0.1, float(i))
                          for i in range(10_000)])
    started = time.perf_counter()
    out = store.statistics(SCOPE, "AWS/SageMaker", "ModelLatency", dict(dims), T0, T0 + 86_400, 3600,
                           ["Average"])
    assert sum(p["SampleCount"] for p in out) == 50_000
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize(("name", "values", "expected"), [
    ("p50", [1, 2, 3, 4], 2.0),
    ("p100", [1, 2, 3, 4], 4.0),
    ("p0", [1, 2, 3, 4], 1.0),
    ("p99.9", list(range(1, 1001)), 999.0),
    ("tm50", [1, 2, 3, 100], 1.5),
    ("tm(25%:75%)", [1, 2, 3, 100], 2.5),
    ("iqm", [1, 2, 3, 100], 2.5),
    ("tc(:3)", [1, 2, 3, 100], 3.0),
    ("ts(1:3)", [1, 2, 3, 100], 5.0),
    ("TM(1:100)", [1, 2, 3, 100], 35.0),
    ("wm(25%:75%)", [1, 2, 3, 100], 2.25),
    ("PR(:3)", [1, 2, 3, 100], 75.0),
    ("PR(2:)", [1, 2, 3, 100], 50.0),
])
def test_extended_statistics(name: str, values: list[float], expected: float) -> None:
    weighted = [(float(v), 1.0) for v in sorted(values)]
    assert stats.compute(stats.parse(name), weighted) == pytest.approx(expected)


@pytest.mark.parametrize("name", ["p101", "p", "q50", "tm(90%:10%)", "PR(10%:20%)", "tm(:)", "tm(5%:20)",
                                  "Average"])
def test_invalid_extended_statistics(name: str) -> None:
    assert not stats.is_valid(name)
