"""Real-time inference: models, endpoint configs, endpoints, replicas, routing, metrics, data capture.

`Hosting` wires the parts together for the platform (`kiln/platform.py`), Application Auto Scaling
of endpoint variants (`kiln.services.autoscaling`) included.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kiln.aws.dispatch import Provider
from kiln.core.state.db import Database
from kiln.execution.slots import SlotPool
from kiln.services import autoscaling
from kiln.services.hosting import asyncq
from kiln.services.hosting.capture import CaptureWriter
from kiln.services.hosting.metrics import InvocationMetrics
from kiln.services.hosting.multimodel import MultiModelHosting
from kiln.services.hosting.reconciler import HostingReconciler, Timing
from kiln.services.hosting.replicas import LocalProcessLauncher
from kiln.services.hosting.repository import HostingRepository
from kiln.services.hosting.router import Router
from kiln.services.hosting.serverless import ServerlessScaler
from kiln.services.hosting.service import HostingService
from kiln.services.hosting.settings import HostingSettings
from kiln.services.hosting.tables import MIGRATIONS as HOSTING_MIGRATIONS
from kiln.services.s3.store import ObjectStore

__all__ = ["MIGRATIONS", "Hosting"]

MIGRATIONS = [*HOSTING_MIGRATIONS, *autoscaling.MIGRATIONS, *asyncq.MIGRATIONS]


class Hosting:
    def __init__(self, *, db: Database, objects: ObjectStore, logs: Any, metric_store: Any, tags: Any,
                 slots: SlotPool, data_dir: Path, endpoint_url: str, owner: str,
                 settings: HostingSettings | None = None, sns: Any = None) -> None:
        self.settings = settings or HostingSettings()
        s = self.settings
        self.tags = tags
        self.service = HostingService(HostingRepository(db))
        self.router = Router()
        self.metrics = InvocationMetrics()
        self.multimodel = MultiModelHosting(objects, data_dir / "hosting" / "cache" / "multimodel")
        self.metrics.sources.append(self.multimodel.metrics.flush)
        self.capture = CaptureWriter(objects)
        self.launcher = LocalProcessLauncher(objects=objects, logs=logs, slots=slots,
                                             replicas_dir=data_dir / "hosting" / "replicas",
                                             cache_dir=data_dir / "hosting" / "cache", endpoint_url=endpoint_url,
                                             owner=f"{owner}#hosting", multimodel=self.multimodel)
        self.reconciler = HostingReconciler(
            self.service, self.launcher, self.router, self.metrics, self.capture, metric_store,
            owner=f"{owner}#hosting",
            timing=Timing(interval=s.interval_seconds, metrics_flush=s.metrics_flush_seconds,
                          capture_flush=s.capture_flush_seconds, health=s.health_seconds,
                          drain_timeout=s.drain_timeout_seconds),
            serverless=ServerlessScaler(lambda: None, idle_seconds=s.serverless_idle_seconds,
                                        replica_concurrency=s.serverless_replica_concurrency,
                                        max_replicas=s.serverless_max_replicas))
        self.service.notify = self.reconciler.notify
        from kiln.services.hosting.runtime import RuntimeProvider

        self.runtime = RuntimeProvider(self.router, self.metrics, self.service, s.model_timeout_seconds)
        self.runtime.multimodel = self.multimodel
        self.autoscaling = autoscaling.Autoscaling(db, self.service, metric_store,
                                                   interval=s.autoscaling_interval_seconds,
                                                   window=s.autoscaling_window_seconds)
        self.asyncq = asyncq.AsyncInference(db, objects, self.service, self.router, metric_store, sns, self.metrics,
                                            poll=s.async_poll_seconds, metrics_every=s.async_metrics_seconds)

    def providers(self) -> list[Provider]:
        from kiln.services.hosting.provider import HostingProvider

        return [HostingProvider(self.service, self.tags), self.runtime, *self.autoscaling.providers(),
                *self.asyncq.providers()]

    def fast_path(self, gateway: Any, account_id: str, region: str) -> Any:
        """InvokeEndpoint on plain ASGI, in front of `gateway` (see fastpath.py)."""
        from kiln.services.hosting.fastpath import InvokeFastPath

        return InvokeFastPath(gateway, self.runtime, account_id, region)

    async def start(self) -> None:
        await self.reconciler.start()
        await self.autoscaling.start()
        await self.asyncq.start()

    async def stop(self) -> None:
        await self.asyncq.stop()
        await self.autoscaling.stop()
        await self.reconciler.stop()

    def prometheus(self) -> str:
        gauges = self.reconciler.gauges()
        for key, counts in self.multimodel.loaded_counts().items():  # multi-model: models loaded per variant
            gauges.setdefault(key, {})["loaded_models"] = sum(counts)
        return self.metrics.prometheus(gauges)

    def count(self) -> int:
        return self.service.repo.count_endpoints()
