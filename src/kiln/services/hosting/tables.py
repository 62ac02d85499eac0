"""Hosting state: models, endpoint configs (requests kept verbatim) and endpoints (desired + current)."""

from __future__ import annotations

import sqlalchemy as sa

from kiln.core.state.db import METADATA, Migration, create_tables


def _keyed(name: str, *columns: sa.Column, indexes: tuple[sa.Index, ...] = ()) -> sa.Table:  # type: ignore[type-arg]
    return sa.Table(
        name, METADATA,
        sa.Column("account_id", sa.String(12), primary_key=True),
        sa.Column("region", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(63), primary_key=True),
        *columns, *indexes)


models = _keyed("hosting_models",
                sa.Column("spec", sa.JSON, nullable=False),
                sa.Column("created_at", sa.Float, nullable=False))

endpoint_configs = _keyed("hosting_endpoint_configs",
                          sa.Column("spec", sa.JSON, nullable=False),
                          sa.Column("created_at", sa.Float, nullable=False))

endpoints = _keyed("hosting_endpoints",
                   sa.Column("status", sa.String(24), nullable=False),
                   sa.Column("current", sa.JSON, nullable=False),
                   sa.Column("pending", sa.JSON),
                   sa.Column("generation", sa.Integer, nullable=False),
                   sa.Column("failure_reason", sa.Text),
                   sa.Column("deployment_config", sa.JSON),
                   sa.Column("created_at", sa.Float, nullable=False),
                   sa.Column("modified_at", sa.Float, nullable=False),
                   sa.Column("version", sa.Integer, nullable=False),
                   indexes=(sa.Index("ix_hosting_endpoints_status", "status"),))

MIGRATIONS = [Migration("hosting-0001-models-configs-endpoints", create_tables(models, endpoint_configs, endpoints))]
