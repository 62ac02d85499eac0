"""CloudWatch Logs tables: groups (keyed by account, region and name), streams, events.

An event's position in its stream is `seq`, a per-stream counter assigned on append (1, 2, ...).
Reads page by `seq`, so appends never disturb a reader's position.
"""

from __future__ import annotations

import sqlalchemy as sa

from kiln.core.state.db import Migration, create_tables

metadata = sa.MetaData()

GROUPS = sa.Table(
    "logs_groups",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("account_id", sa.String(12), nullable=False),
    sa.Column("region", sa.String(32), nullable=False),
    sa.Column("name", sa.String(512), nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("kms_key_id", sa.String(256), nullable=True),
    sa.Column("group_class", sa.String(32), nullable=False, server_default="STANDARD"),
    sa.Column("retention_days", sa.Integer, nullable=True),
    sa.UniqueConstraint("account_id", "region", "name", name="uq_logs_groups_scope_name"),
    sqlite_autoincrement=True,  # ids are never reused, so a cached stream id can't name another stream
)

STREAMS = sa.Table(
    "logs_streams",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("group_id", sa.Integer, sa.ForeignKey("logs_groups.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.String(512), nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("first_event_ms", sa.BigInteger, nullable=True),
    sa.Column("last_event_ms", sa.BigInteger, nullable=True),
    sa.Column("last_ingestion_ms", sa.BigInteger, nullable=True),
    sa.Column("stored_bytes", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("last_seq", sa.BigInteger, nullable=False, server_default="0"),
    sa.UniqueConstraint("group_id", "name", name="uq_logs_streams_group_name"),
    sqlite_autoincrement=True,
)

EVENTS = sa.Table(
    "logs_events",
    metadata,
    sa.Column("stream_id", sa.Integer, sa.ForeignKey("logs_streams.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("timestamp", sa.BigInteger, nullable=False),
    sa.Column("ingestion_ms", sa.BigInteger, nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Index("ix_logs_events_stream_time", "stream_id", "timestamp", "seq"),
)

MIGRATIONS = [
    Migration("logs-0001-groups-streams-events", create_tables(GROUPS, STREAMS, EVENTS)),
]
