"""Tuning state: one row per tuning job, one per trial attempt. The Optuna study is rebuilt from
these rows (params, verdicts, intermediate values and the pruner's bookkeeping); there is no second
database."""

from __future__ import annotations

import sqlalchemy as sa

from kiln.core.state.db import METADATA, Migration, create_tables

tuning_jobs = sa.Table(
    "tuning_jobs",
    METADATA,
    sa.Column("account_id", sa.String(12), primary_key=True),
    sa.Column("region", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("arn", sa.String(256), nullable=False),
    sa.Column("spec", sa.JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("modified_at", sa.Float, nullable=False),
    sa.Column("ended_at", sa.Float),
    sa.Column("seed", sa.Integer, nullable=False),
    sa.Column("failure_reason", sa.Text),
    sa.Column("stop_reason", sa.String(32)),
    sa.Column("not_improving", sa.Integer, nullable=False, default=0),
    sa.Column("converged_at", sa.Float),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Index("ix_tuning_jobs_status", "status"),
)

tuning_trials = sa.Table(
    "tuning_trials",
    METADATA,
    sa.Column("account_id", sa.String(12), primary_key=True),
    sa.Column("region", sa.String(32), primary_key=True),
    sa.Column("tuning_job", sa.String(32), primary_key=True),
    sa.Column("number", sa.Integer, primary_key=True),
    sa.Column("attempt", sa.Integer, primary_key=True),
    sa.Column("training_job", sa.String(63), nullable=False),
    sa.Column("definition", sa.String(64)),
    sa.Column("params", sa.JSON, nullable=False),
    sa.Column("tuned", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("verdict", sa.String(16), nullable=False),
    sa.Column("value", sa.Float),
    sa.Column("intermediate", sa.JSON, nullable=False),
    sa.Column("system_attrs", sa.JSON, nullable=False),
    sa.Column("early_stopped", sa.Boolean, nullable=False, default=False),
    sa.Column("stop_requested", sa.Boolean, nullable=False, default=False),
    sa.Index("ix_tuning_trials_training_job", "account_id", "region", "training_job"),
)

MIGRATIONS = [Migration("tuning-0001-jobs-trials", create_tables(tuning_jobs, tuning_trials))]
