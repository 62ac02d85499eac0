"""MetricStore: CloudWatch-style metric series over the state store. Domain code, no AWS shapes.

Writers: training (values parsed from job logs, namespace `/aws/sagemaker/TrainingJobs`, dimension
`TrainingJobName`), hosting (`AWS/SageMaker`, `EndpointName` + `VariantName`), and the
`cloudwatch` / `sagemaker-metrics` providers. Readers: the same providers, the console, autoscaling.

Thread-safety: one instance per server process, shared by all threads. Each `put` is one write
transaction; series ids are cached in memory after their transaction commits.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from kiln.core.scope import Scope
from kiln.core.state.db import Database
from kiln.services.metrics import stats
from kiln.services.metrics.models import (
    Datapoint,
    Datum,
    Dimensions,
    MetricIdentity,
    RawPoint,
    StatisticSet,
    canonical_dimensions,
    dimensions_key,
)
from kiln.services.metrics.tables import dimensions as dims_table
from kiln.services.metrics.tables import points, series

LOG = logging.getLogger(__name__)

DimensionsIn = Mapping[str, str] | Iterable[tuple[str, str]]
SeriesKey = tuple[str, str, str, str, str]  # account, region, namespace, name, dims_key
TOUCH_INTERVAL = 60.0  # seconds between updates of a series' last_put_at


def _unit_in(unit: str) -> str | None:
    return None if unit == "None" else unit


def _unit_out(unit: str | None) -> str:
    return unit or "None"


class MetricStore:
    """Metric series keyed by (scope, namespace, name, dimensions)."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock
        self._lock = threading.Lock()
        self._ids: dict[SeriesKey, int] = {}
        self._touched: dict[int, float] = {}

    # ------------------------------------------------------------------ writes

    def put(self, scope: Scope, data: Sequence[Datum | StatisticSet]) -> None:
        """Store values (one transaction). Non-finite values are dropped: CloudWatch cannot hold them."""
        rows: list[tuple[SeriesKey, Dimensions, dict[str, Any]]] = []
        for d in data:
            row = self._row(d)
            if row is None:
                LOG.debug("dropping non-finite metric value for %s/%s", d.namespace, d.name)
                continue
            dims = canonical_dimensions(d.dimensions)
            key = (scope.account_id, scope.region, d.namespace, d.name, dimensions_key(dims))
            rows.append((key, dims, row))
        if not rows:
            return
        now = self._clock()
        with self._db.tx() as conn:
            ids, created = self._resolve(conn, {k: dims for k, dims, _ in rows}, now)
            conn.execute(points.insert(), [{**row, "series_id": ids[k]} for k, _, row in rows])
            fresh = set(created.values())
            with self._lock:
                stale = [sid for sid in set(ids.values()) - fresh
                         if now - self._touched.get(sid, 0.0) >= TOUCH_INTERVAL]
            if stale:
                conn.execute(series.update().where(series.c.id.in_(stale)).values(last_put_at=now))
        with self._lock:
            self._ids.update(ids)
            for sid in ids.values():
                if sid in fresh or sid in stale:
                    self._touched[sid] = now

    @staticmethod
    def _row(d: Datum | StatisticSet) -> dict[str, Any] | None:
        if isinstance(d, StatisticSet):
            nums = (d.sample_count, d.sum, d.minimum, d.maximum)
            if not all(math.isfinite(x) for x in nums) or d.sample_count <= 0:
                return None
            if d.minimum == d.maximum and math.isclose(d.sum, d.minimum * d.sample_count, rel_tol=1e-9,
                                                       abs_tol=1e-12):
                # Equivalent to raw values: keeps percentiles available (CloudWatch's rule).
                value, count, low, high = d.minimum, d.sample_count, None, None
            else:
                value, count, low, high = d.sum, d.sample_count, d.minimum, d.maximum
            step = None
        else:
            if not (math.isfinite(d.value) and math.isfinite(d.count)) or d.count <= 0:
                return None
            value, count, low, high, step = d.value, d.count, None, None, d.step
        return {"ts": float(d.timestamp), "value": float(value), "count": float(count), "minimum": low,
                "maximum": high, "unit": _unit_in(d.unit), "step": step}

    def _resolve(self, conn: Connection, wanted: Mapping[SeriesKey, Dimensions],
                 now: float) -> tuple[dict[SeriesKey, int], dict[SeriesKey, int]]:
        """Series ids for `wanted`, creating the missing series. Returns (all ids, newly created)."""
        ids: dict[SeriesKey, int] = {}
        created: dict[SeriesKey, int] = {}
        with self._lock:
            for key in wanted:
                sid = self._ids.get(key)
                if sid is not None:
                    ids[key] = sid
        for key, dims in wanted.items():
            if key in ids:
                continue
            sid = self._lookup(conn, key)
            if sid is None:
                sid = self._create(conn, key, dims, now)
                created[key] = sid
            ids[key] = sid
        return ids, created

    @staticmethod
    def _lookup(conn: Connection, key: SeriesKey) -> int | None:
        account, region, namespace, name, dkey = key
        found = conn.execute(sa.select(series.c.id).where(
            series.c.account_id == account, series.c.region == region, series.c.namespace == namespace,
            series.c.name == name, series.c.dims_key == dkey)).scalar()
        return int(found) if found is not None else None

    def _create(self, conn: Connection, key: SeriesKey, dims: Dimensions, now: float) -> int:
        account, region, namespace, name, dkey = key
        values = {"account_id": account, "region": region, "namespace": namespace, "name": name,
                  "dims_key": dkey, "created_at": now, "last_put_at": now}
        dialect = conn.dialect.name
        if dialect in ("sqlite", "postgresql"):
            insert = sqlite.insert if dialect == "sqlite" else postgresql.insert
            stmt = insert(series).values(**values).on_conflict_do_nothing()
            inserted = conn.execute(stmt).rowcount == 1
        else:
            conn.execute(series.insert().values(**values))
            inserted = True
        sid = self._lookup(conn, key)
        if sid is None:  # pragma: no cover - the insert above guarantees a row
            raise RuntimeError(f"metric series {key} vanished")
        if inserted and dims:
            conn.execute(dims_table.insert(), [{"series_id": sid, "name": k, "value": v} for k, v in dims])
        return sid

    # ------------------------------------------------------------------ reads

    def _series_id(self, conn: Connection, scope: Scope, namespace: str, name: str,
                   dims: DimensionsIn) -> int | None:
        key = (scope.account_id, scope.region, namespace, name, dimensions_key(canonical_dimensions(dims)))
        with self._lock:
            sid = self._ids.get(key)
        if sid is None:
            sid = self._lookup(conn, key)
            if sid is not None:
                with self._lock:
                    self._ids[key] = sid
        return sid

    def statistics(self, scope: Scope, namespace: str, name: str, dimensions: Mapping[str, str],
                   start: float, end: float, period: int, stats: Sequence[str]) -> list[dict[str, float]]:
        """Per-period aggregates of the series with exactly `dimensions`, all units together.

        Each dict has `Timestamp` (period start, `start + k * period`), `SampleCount`, `Sum`,
        `Average`, `Minimum`, `Maximum`, plus each extended statistic in `stats` (`p50`, `p99`, ...)
        that has a value for that period. Values in [start, end) count.
        """
        extended = [s for s in stats if s not in ("SampleCount", "Sum", "Average", "Minimum", "Maximum")]
        return [p.as_dict() for p in self.datapoints(scope, namespace, name, dimensions, start, end, period,
                                                     extended=extended, split_units=False)]

    def datapoints(self, scope: Scope, namespace: str, name: str,
                   dimensions: DimensionsIn, start: float, end: float,
                   period: int, *, extended: Sequence[str] = (), unit: str | None = None,
                   split_units: bool = True) -> list[Datapoint]:
        """Per-period aggregates, sorted by time. `unit` keeps only values with that unit;
        `split_units` reports each unit of a period as its own datapoint (as CloudWatch does).

        Raises:
            ValueError: an extended statistic name is not valid (see `stats.parse`).
        """
        parsed = [stats.parse(s) for s in extended]
        with self._db.read() as conn:
            sid = self._series_id(conn, scope, namespace, name, dimensions)
            if sid is None or end <= start:
                return []
            inner = sa.select(self._bucket(conn, start, period).label("b"), points).where(
                points.c.series_id == sid, points.c.ts >= start, points.c.ts < end)
            if unit is not None:
                u = _unit_in(unit)
                inner = inner.where(points.c.unit.is_(None) if u is None else points.c.unit == u)
            sub = inner.subquery()
            group = [sub.c.b, sub.c.unit] if split_units else [sub.c.b]
            unit_col = sub.c.unit if split_units else sa.func.min(sub.c.unit)
            total = sa.case((sub.c.minimum.is_(None), sub.c.value * sub.c["count"]), else_=sub.c.value)
            query = sa.select(sub.c.b, unit_col, sa.func.sum(sub.c["count"]), sa.func.sum(total),
                              sa.func.min(sa.func.coalesce(sub.c.minimum, sub.c.value)),
                              sa.func.max(sa.func.coalesce(sub.c.maximum, sub.c.value)),
                              sa.func.count(sub.c.minimum)).group_by(*group).order_by(*group)
            aggregates = conn.execute(query).all()
            values = self._values_by_bucket(conn, sub, split_units) if parsed else {}
        out = []
        for b, u, count, total_sum, low, high, sets in aggregates:
            ext: dict[str, float] = {}
            if parsed and not sets:
                weighted = values.get((int(b), u if split_units else None), [])
                for stat in parsed:
                    v = stats.compute(stat, weighted)
                    if v is not None:
                        ext[stat.text] = v
            out.append(Datapoint(start + int(b) * period, float(count), float(total_sum), float(low),
                                 float(high), _unit_out(u), ext))
        return out

    @staticmethod
    def _bucket(conn: Connection, start: float, period: int) -> sa.ColumnElement[Any]:
        offset = (points.c.ts - sa.literal(float(start), sa.Float)) / sa.literal(float(period), sa.Float)
        if conn.dialect.name == "sqlite":
            return sa.cast(offset, sa.Integer)  # truncation == floor: ts >= start
        return sa.func.floor(offset)

    @staticmethod
    def _values_by_bucket(conn: Connection, sub: sa.Subquery,
                          split_units: bool) -> dict[tuple[int, str | None], list[tuple[float, float]]]:
        query = sa.select(sub.c.b, sub.c.unit, sub.c.value, sub.c["count"]).where(
            sub.c.minimum.is_(None)).order_by(sub.c.b, sub.c.value)
        out: dict[tuple[int, str | None], list[tuple[float, float]]] = {}
        for b, u, value, count in conn.execute(query):
            out.setdefault((int(b), u if split_units else None), []).append((float(value), float(count)))
        return out

    def series(self, scope: Scope, namespace: str, name: str,
               dimensions: Mapping[str, str]) -> list[tuple[float, float]]:
        """Every stored (timestamp, value) of the series, oldest first (statistic sets: their average)."""
        return [(p.timestamp, p.value) for p in self.raw(scope, namespace, name, dimensions)]

    def raw(self, scope: Scope, namespace: str, name: str, dimensions: DimensionsIn,
            start: float | None = None, end: float | None = None) -> list[RawPoint]:
        """Stored points in [start, end), oldest first, in write order among equal timestamps."""
        with self._db.read() as conn:
            sid = self._series_id(conn, scope, namespace, name, dimensions)
            if sid is None:
                return []
            query = sa.select(points.c.ts, points.c.value, points.c["count"], points.c.step, points.c.minimum,
                              points.c.maximum).where(points.c.series_id == sid)
            if start is not None:
                query = query.where(points.c.ts >= start)
            if end is not None:
                query = query.where(points.c.ts < end)
            rows = conn.execute(query.order_by(points.c.ts, points.c.id)).all()
        out = []
        for ts, value, count, step, low, high in rows:
            if low is None:
                out.append(RawPoint(ts, value, count, step, value, value))
            else:
                out.append(RawPoint(ts, value / count, count, step, low, high))
        return out

    def list_metrics(self, scope: Scope, *, namespace: str | None = None, name: str | None = None,
                     filters: Sequence[tuple[str, str | None]] = (), active_since: float | None = None,
                     after: int = 0, limit: int = 500) -> tuple[list[MetricIdentity], int | None]:
        """Series matching the filters, in creation order, after cursor `after`.

        A filter (name, value) needs the series to have that dimension (with that value, unless the
        value is None); other dimensions may be present. Returns (page, cursor of the next page or None).
        """
        query = sa.select(series.c.id, series.c.namespace, series.c.name, series.c.dims_key).where(
            series.c.account_id == scope.account_id, series.c.region == scope.region, series.c.id > after)
        if namespace is not None:
            query = query.where(series.c.namespace == namespace)
        if name is not None:
            query = query.where(series.c.name == name)
        if active_since is not None:
            query = query.where(series.c.last_put_at >= active_since)
        for dim_name, dim_value in filters:
            cond = sa.and_(dims_table.c.series_id == series.c.id, dims_table.c.name == dim_name)
            if dim_value is not None:
                cond = sa.and_(cond, dims_table.c.value == dim_value)
            query = query.where(sa.exists().where(cond))
        with self._db.read() as conn:
            rows = conn.execute(query.order_by(series.c.id).limit(limit + 1)).all()
        page = [MetricIdentity(ns, nm, _decode_dims(dkey)) for _, ns, nm, dkey in rows[:limit]]
        cursor = int(rows[limit - 1][0]) if len(rows) > limit else None
        return page, cursor

    def count_series(self) -> int:
        """How many series exist, over all scopes (for the status page)."""
        with self._db.read() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(series)).scalar() or 0)


def _decode_dims(dkey: str) -> Dimensions:
    return tuple((str(k), str(v)) for k, v in json.loads(dkey))
