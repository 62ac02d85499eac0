"""Training-job state. The validated CreateTrainingJob request is the job's spec, kept verbatim
(Describe echoes it); everything the platform learns while running lives in its own columns."""

from __future__ import annotations

import sqlalchemy as sa

from kiln.core.state.db import METADATA, Migration, create_tables

training_jobs = sa.Table(
    "training_jobs",
    METADATA,
    sa.Column("account_id", sa.String(12), primary_key=True),
    sa.Column("region", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(63), primary_key=True),
    sa.Column("arn", sa.String(256), nullable=False),
    sa.Column("spec", sa.JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("secondary_status", sa.String(32), nullable=False),
    sa.Column("transitions", sa.JSON, nullable=False),
    sa.Column("failure_reason", sa.Text),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("modified_at", sa.Float, nullable=False),
    sa.Column("training_start", sa.Float),
    sa.Column("training_end", sa.Float),
    sa.Column("running_seconds", sa.Float, nullable=False, default=0.0),
    sa.Column("billable_seconds", sa.Float, nullable=False, default=0.0),
    sa.Column("model_artifacts", sa.Text),
    sa.Column("final_metrics", sa.JSON, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("interruptions", sa.Integer, nullable=False, default=0),
    sa.Column("stop_requested", sa.Boolean, nullable=False, default=False),
    sa.Column("interrupt_requested", sa.Boolean, nullable=False, default=False),
    sa.Column("tuning_job_arn", sa.String(256)),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Index("ix_training_jobs_status", "status"),
    sa.Index("ix_training_jobs_created", "account_id", "region", "created_at"),
)

MIGRATIONS = [Migration("training-0001-jobs", create_tables(training_jobs))]
