"""Feature Store state: feature groups, and the offline store's write-ahead buffer.

Every accepted record is appended to `featurestore_offline_buffer` in the same request that
acknowledges it (one transaction for a batch); the flusher seals buffered rows into a numbered
batch, writes the batch's Parquet files to the object store under deterministic keys, then deletes
the batch. A crash anywhere in between replays the sealed batch onto the same keys: no record is
lost and none is written twice.
"""

from __future__ import annotations

import sqlalchemy as sa

from kiln.core.state.db import METADATA, Migration, create_tables

feature_groups = sa.Table(
    "featurestore_groups",
    METADATA,
    sa.Column("account_id", sa.String(12), primary_key=True),
    sa.Column("region", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("name_lower", sa.String(64), nullable=False),
    sa.Column("store_id", sa.String(32), nullable=False, unique=True),
    sa.Column("doc", sa.JSON, nullable=False),  # definitions and configs (see repository._to_doc)
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("failure_reason", sa.Text),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("modified_at", sa.Float, nullable=False),
    sa.Column("last_ingest_at", sa.Float),
    sa.Index("ix_featurestore_groups_lower", "account_id", "region", "name_lower"),
)

offline_buffer = sa.Table(
    "featurestore_offline_buffer",
    METADATA,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("store_id", sa.String(32), nullable=False),
    sa.Column("batch_id", sa.Integer),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("event_time", sa.Float, nullable=False),
    sa.Column("api_time", sa.Float, nullable=False),
    sa.Column("is_deleted", sa.Boolean, nullable=False),
    sa.Index("ix_featurestore_buffer_batch", "batch_id", "store_id"),
)

offline_batches = sa.Table(
    "featurestore_offline_batches",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("store_id", sa.String(32), nullable=False),
    sa.Column("token", sa.String(32), nullable=False),
    sa.Column("sealed_at", sa.Float, nullable=False),
    sa.Column("rows", sa.Integer, nullable=False),
)

offline_stats = sa.Table(
    "featurestore_offline_stats",
    METADATA,
    sa.Column("store_id", sa.String(32), primary_key=True),
    sa.Column("rows", sa.Integer, nullable=False),
    sa.Column("files", sa.Integer, nullable=False),
    sa.Column("last_flush_at", sa.Float),
)

MIGRATIONS = [Migration("featurestore-0001-groups-and-offline-buffer",
                        create_tables(feature_groups, offline_buffer, offline_batches, offline_stats))]
