"""The metric tables and their migrations.

Storage is one row per datum in `metric_points`, keyed by a small integer series id. The series
row carries the scope (account, region), namespace, metric name and the canonical dimensions key;
`metric_dimensions` repeats the dimensions one per row so that ListMetrics can filter in SQL.
Reads of one series over a time range use the (series_id, ts) index.
"""

from __future__ import annotations

import sqlalchemy as sa

from kiln.core.state.db import Migration, create_tables

METADATA = sa.MetaData()

# SQLite makes `INTEGER PRIMARY KEY` the rowid (no extra index); elsewhere a 64-bit key.
_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

series = sa.Table(
    "metric_series",
    METADATA,
    sa.Column("id", _ROW_ID, primary_key=True, autoincrement=True),
    sa.Column("account_id", sa.String(12), nullable=False),
    sa.Column("region", sa.String(32), nullable=False),
    sa.Column("namespace", sa.String(255), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("dims_key", sa.Text, nullable=False),  # models.dimensions_key(): JSON of sorted pairs
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("last_put_at", sa.Float, nullable=False),  # wall clock of the last put (RecentlyActive)
    sa.UniqueConstraint("account_id", "region", "namespace", "name", "dims_key", name="uq_metric_series"),
)

dimensions = sa.Table(
    "metric_dimensions",
    METADATA,
    sa.Column("series_id", _ROW_ID, sa.ForeignKey("metric_series.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("value", sa.String(1024), nullable=False),
    sa.Index("ix_metric_dimensions_name_value", "name", "value"),
)

points = sa.Table(
    "metric_points",
    METADATA,
    sa.Column("id", _ROW_ID, primary_key=True, autoincrement=True),
    sa.Column("series_id", _ROW_ID, sa.ForeignKey("metric_series.id", ondelete="CASCADE"), nullable=False),
    sa.Column("ts", sa.Float, nullable=False),  # epoch seconds
    sa.Column("value", sa.Float, nullable=False),  # the value; for a statistic set, its Sum
    sa.Column("count", sa.Float, nullable=False),  # times observed; for a statistic set, SampleCount
    sa.Column("minimum", sa.Float),  # statistic sets only (NULL for values)
    sa.Column("maximum", sa.Float),  # statistic sets only
    sa.Column("unit", sa.String(32)),  # NULL means "None"
    sa.Column("step", sa.Integer),  # iteration number, where the writer knows one
    sa.Index("ix_metric_points_series_ts", "series_id", "ts"),
)

MIGRATIONS: list[Migration] = [
    Migration("metrics-0001-series-dimensions-points", create_tables(series, dimensions, points)),
]
