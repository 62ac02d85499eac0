"""The running platform: state store, object store, logs, and every service area's provider.

One instance per server process. `app.py` turns it into ASGI; the CLI and tests build it directly.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kiln.aws.dispatch import Provider
from kiln.config import Settings
from kiln.core.state.db import Database, Migration
from kiln.execution.slots import SlotPool, host_gpus
from kiln.services import hosting, sns, transform
from kiln.services.featurestore import assembly as featurestore
from kiln.services.identity.provider import IamProvider, StsProvider
from kiln.services.logs import tables as logs_tables
from kiln.services.logs.provider import LogsProvider
from kiln.services.logs.store import LogStore
from kiln.services.metrics import tables as metrics_tables
from kiln.services.metrics.provider_cloudwatch import CloudWatchProvider
from kiln.services.metrics.provider_sagemaker_metrics import SageMakerMetricsProvider
from kiln.services.metrics.store import MetricStore
from kiln.services.s3 import tables as s3_tables
from kiln.services.s3.provider import S3Provider
from kiln.services.s3.store import ObjectStore
from kiln.services.tags import store as tags_store
from kiln.services.tags.provider import TagsProvider
from kiln.services.training import tables as training_tables
from kiln.services.training.provider import TrainingProvider
from kiln.services.training.reconciler import TrainingReconciler
from kiln.services.training.repository import TrainingJobRepository
from kiln.services.training.runner import RunnerDeps
from kiln.services.training.service import TrainingService
from kiln.services.tuning import tables as tuning_tables
from kiln.services.tuning.provider import TuningProvider
from kiln.services.tuning.reconciler import TuningReconciler
from kiln.services.tuning.repository import TuningRepository
from kiln.services.tuning.service import TuningService

LOG = logging.getLogger(__name__)
BACKGROUND_THREADS = 32


class Platform:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.db = Database(settings.db_url)
        applied = self.db.migrate(self.migrations())
        if applied:
            LOG.info("applied migrations: %s", ", ".join(applied))
        self.logs = LogStore(self.db)
        self.objects = ObjectStore(self.db, settings.data_dir / "objects")
        self.metrics = MetricStore(self.db)
        self.tags = tags_store.TagStore(self.db)
        self.slots = SlotPool(settings.cpu_capacity or None, host_gpus(settings.gpus))
        self.training = TrainingService(TrainingJobRepository(self.db))
        self.training_reconciler = TrainingReconciler(RunnerDeps(
            service=self.training, objects=self.objects, logs=self.logs, metrics=self.metrics, slots=self.slots,
            jobs_dir=settings.data_dir / "jobs" / "training", cache_dir=settings.data_dir / "cache",
            endpoint_url=settings.url, owner=str(settings.data_dir.resolve()),
            stop_grace=settings.stop_grace_seconds, spot_mtbi=settings.spot_mtbi_seconds,
            spot_restart_delay=settings.spot_restart_delay_seconds))
        self.training.notify = self.training_reconciler.notify
        self.sns = sns.Sns(self.db, settings.url)
        self.hosting = hosting.Hosting(db=self.db, objects=self.objects, logs=self.logs, metric_store=self.metrics,
                                       tags=self.tags, slots=self.slots, data_dir=settings.data_dir,
                                       endpoint_url=settings.url, owner=str(settings.data_dir.resolve()),
                                       sns=self.sns.service)
        self.transform = transform.Transform(db=self.db, objects=self.objects, logs=self.logs, tags=self.tags,
                                             slots=self.slots, data_dir=settings.data_dir, endpoint_url=settings.url,
                                             owner=str(settings.data_dir.resolve()),
                                             models=self.hosting.service.get_model)
        self.features = featurestore.FeatureStore(self.db, self.objects, self.tags, settings.data_dir,
                                                  settings.account_id)
        self.tuning = TuningService(TuningRepository(self.db), self.training)
        self.tuning_reconciler = TuningReconciler(self.tuning, self.metrics)
        self.tuning.notify = self.tuning_reconciler.notify

    @staticmethod
    def migrations() -> list[Migration]:
        out: list[Migration] = []
        out += logs_tables.MIGRATIONS
        out += s3_tables.MIGRATIONS
        out += metrics_tables.MIGRATIONS
        out += tags_store.MIGRATIONS
        out += training_tables.MIGRATIONS
        out += hosting.MIGRATIONS
        out += sns.MIGRATIONS
        out += tuning_tables.MIGRATIONS
        out += transform.MIGRATIONS
        out += featurestore.MIGRATIONS
        return out

    def providers(self) -> list[Provider]:
        return [StsProvider(self.settings.role_name), IamProvider(), LogsProvider(self.logs),
                S3Provider(self.objects),
                CloudWatchProvider(self.metrics), SageMakerMetricsProvider(self.metrics),
                TagsProvider(self.tags), TrainingProvider(self.training, self.tags),
                TuningProvider(self.tuning, self.tags), *self.features.providers(), *self.hosting.providers(),
                *self.sns.providers(), *self.transform.providers()]

    async def start(self) -> None:
        """Recover from a crash and start background loops."""
        # The reconcilers' blocking work (staging, uploads, state writes) runs on the loop's default
        # executor; asyncio sizes it at cpu_count + 4, which on a 2-core machine lets a few long uploads
        # starve every other loop. The API's own handlers have a separate pool (aws/gateway.py).
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(max_workers=BACKGROUND_THREADS, thread_name_prefix="kiln-background"))
        self.objects.recover()
        await self.training_reconciler.start()
        await self.hosting.start()
        await self.features.start()
        await self.tuning_reconciler.start()
        await self.transform.start()

    async def stop(self) -> None:
        await self.transform.stop()
        await self.features.stop()
        await self.tuning_reconciler.stop()
        await self.hosting.stop()
        await self.training_reconciler.stop()
        self.sns.close()
        self.objects.close()
        self.db.dispose()

    def status(self) -> dict[str, Any]:
        return {"dataDir": str(self.settings.data_dir), "accountId": self.settings.account_id,
                "region": self.settings.region, "resources": {**self.logs.counts(),
                                                                 "buckets": self.objects.bucket_count(),
                                                                 "metricSeries": self.metrics.count_series(),
                                                                 "trainingJobs": self.training.repo.count(),
                                                                 "tuningJobs": self.tuning.repo.count(),
                                                                 "endpoints": self.hosting.count(),
                                                                 "transformJobs": self.transform.count(),
                                                                 **self.features.counts()},
                "featureStore": self.features.group_stats()}

    def data_path(self, gateway: Any) -> Any:
        """The ASGI app for AWS requests: InvokeEndpoint on plain ASGI in front of the gateway."""
        return self.hosting.fast_path(gateway, self.settings.account_id, self.settings.region)

    def prometheus(self) -> str:
        """Prometheus text for `/_kiln/metrics`."""
        return self.hosting.prometheus()
