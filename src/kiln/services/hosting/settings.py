"""Hosting and autoscaling knobs, read from `KILN_HOSTING_*` environment variables.

They live here rather than in `kiln/config.py` only until that file's owner folds them in; the names
follow the same `KILN_` convention so nothing changes for users when they move.
"""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class HostingSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KILN_HOSTING_", extra="ignore")

    # Reconcile loop period; replicas are also converged immediately after each API call.
    interval_seconds: float = 1.0
    # How often invocation metrics go to CloudWatch (AWS/SageMaker) and captured data to S3.
    metrics_flush_seconds: float = 10.0
    capture_flush_seconds: float = 5.0
    # Health checks of idle replicas (GET /ping); three failures in a row replace the replica.
    health_seconds: float = 5.0
    # Retired replicas finish their in-flight requests for at most this long.
    drain_timeout_seconds: float = 60.0
    # The model's answer deadline (SageMaker: 60 s).
    model_timeout_seconds: float = 60.0
    # Serverless variants (serverless.py): back to zero (or to ProvisionedConcurrency) this long after
    # the last request; requests in flight per replica before another one starts; replicas per variant.
    serverless_idle_seconds: float = 300.0
    serverless_replica_concurrency: int = 4
    serverless_max_replicas: int = 4
    # Application Auto Scaling: evaluation period, and the window the metric is averaged over.
    autoscaling_interval_seconds: float = 10.0
    autoscaling_window_seconds: float = 60.0
    # Asynchronous inference: how often the queue is looked at when nothing wakes it (requests and
    # finished answers do), and how often the backlog metrics go to CloudWatch.
    async_poll_seconds: float = 1.0
    async_metrics_seconds: float = 5.0
