"""Transform-job state. The validated CreateTransformJob request is the job's spec, kept verbatim
(Describe echoes it); what the platform learns while running lives in its own columns."""

from __future__ import annotations

import sqlalchemy as sa

from kiln.core.state.db import METADATA, Migration, create_tables

transform_jobs = sa.Table(
    "transform_jobs",
    METADATA,
    sa.Column("account_id", sa.String(12), primary_key=True),
    sa.Column("region", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(63), primary_key=True),
    sa.Column("arn", sa.String(256), nullable=False),
    sa.Column("spec", sa.JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("failure_reason", sa.Text),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("modified_at", sa.Float, nullable=False),
    sa.Column("transform_start", sa.Float),
    sa.Column("transform_end", sa.Float),
    sa.Column("started", sa.Boolean, nullable=False, default=False),
    sa.Column("stats", sa.JSON, nullable=False),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Index("ix_transform_jobs_status", "status"),
    sa.Index("ix_transform_jobs_created", "account_id", "region", "created_at"),
)

MIGRATIONS = [Migration("transform-0001-jobs", create_tables(transform_jobs))]
