"""Glue Data Catalog and Athena query-execution state."""

from __future__ import annotations

import sqlalchemy as sa

from kiln.core.state.db import METADATA, Migration, create_tables

glue_databases = sa.Table(
    "glue_databases",
    METADATA,
    sa.Column("account_id", sa.String(12), primary_key=True),
    sa.Column("region", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("doc", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

glue_tables = sa.Table(
    "glue_tables",
    METADATA,
    sa.Column("account_id", sa.String(12), primary_key=True),
    sa.Column("region", sa.String(32), primary_key=True),
    sa.Column("database", sa.String(255), primary_key=True),
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("doc", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

query_executions = sa.Table(
    "athena_query_executions",
    METADATA,
    sa.Column("account_id", sa.String(12), primary_key=True),
    sa.Column("region", sa.String(32), primary_key=True),
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("doc", sa.JSON, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("submitted_at", sa.Float, nullable=False),
    sa.Index("ix_athena_queries_state", "state"),
    sa.Index("ix_athena_queries_submitted", "account_id", "region", "submitted_at"),
)

MIGRATIONS = [Migration("athena-0001-catalog-and-queries",
                        create_tables(glue_databases, glue_tables, query_executions))]
