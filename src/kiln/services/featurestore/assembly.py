"""Builds the feature store and Athena/Glue for the platform: stores, services, providers, background work."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from kiln.aws.dispatch import Provider
from kiln.core.state.db import Database, Migration
from kiln.services.athena import tables as athena_tables
from kiln.services.athena.catalog import Catalog
from kiln.services.athena.engine import QueryEngine
from kiln.services.athena.provider import AthenaProvider
from kiln.services.athena.provider_glue import GlueProvider
from kiln.services.athena.service import QueryService
from kiln.services.featurestore import tables as featurestore_tables
from kiln.services.featurestore.offline import OfflineFlusher, OfflineStore
from kiln.services.featurestore.provider import FeatureGroupProvider
from kiln.services.featurestore.provider_runtime import FeatureStoreRuntimeProvider
from kiln.services.featurestore.reconciler import FeatureStoreReconciler
from kiln.services.featurestore.records import RecordService
from kiln.services.featurestore.repository import FeatureGroupRepository
from kiln.services.featurestore.service import FeatureGroupService
from kiln.services.featurestore.settings import FeatureStoreSettings, open_online_store
from kiln.services.s3.store import ObjectStore
from kiln.services.tags.store import TagStore

MIGRATIONS: list[Migration] = [*athena_tables.MIGRATIONS, *featurestore_tables.MIGRATIONS]


class FeatureStore:
    def __init__(self, db: Database, objects: ObjectStore, tags: TagStore, data_dir: Path, account_id: str,
                 settings: FeatureStoreSettings | None = None) -> None:
        self.settings = settings or FeatureStoreSettings()
        self.tags = tags
        self.account_id = account_id
        self.online = open_online_store(self.settings, data_dir)
        self.catalog = Catalog(db)
        repo = FeatureGroupRepository(db)
        self.offline = OfflineStore(db, objects, lambda sid: self.groups.by_store_id(sid), self.settings.flush_rows)
        self.groups = FeatureGroupService(repo, objects, self.catalog, self.online, self.offline)
        self.records = RecordService(self.groups, self.online, self.offline)
        self.reconciler = FeatureStoreReconciler(self.groups, self.online)
        self.groups.notify = self.reconciler.notify
        self.flusher = OfflineFlusher(self.offline, self.settings.flush_interval_seconds, self._persist_ingest_times)
        self.records.on_append = self.flusher.notify
        self.engine = QueryEngine(self.catalog, objects, alias=self.groups.athena_alias)
        self.queries = QueryService(db, objects, self.engine, data_dir / "athena")
        self.queries.before_query.append(lambda: self.offline.flush())

    def _persist_ingest_times(self) -> None:
        pending, self.records.last_ingest = self.records.last_ingest, {}
        for store_id, at in pending.items():
            self.groups.repo.touch_ingest(store_id, at)

    def providers(self) -> list[Provider]:
        return [FeatureGroupProvider(self.groups, self.tags), FeatureStoreRuntimeProvider(self.records),
                AthenaProvider(self.queries), GlueProvider(self.catalog, self.account_id)]

    async def start(self) -> None:
        await asyncio.to_thread(self.queries.recover)
        await asyncio.to_thread(self.offline.recover)  # batches a crash left sealed, rows it left buffered
        self.flusher.start()
        await self.reconciler.start()

    async def stop(self) -> None:
        await self.reconciler.stop()
        await asyncio.to_thread(self.flusher.stop)  # flushes what is buffered
        await asyncio.to_thread(self._persist_ingest_times)
        await asyncio.to_thread(self.queries.shutdown)
        self.online.close()

    def counts(self) -> dict[str, int]:
        return {"featureGroups": self.groups.repo.count()}

    def group_stats(self, scope: Any = None) -> list[dict[str, Any]]:
        """Per group (all scopes by default): status, online/offline record counts, last ingest (`kiln features`)."""
        out = []
        now = time.time()
        for g in self.groups.repo.list(scope):
            flushed, files, _ = self.offline.stats(g.store_id)
            last = max(filter(None, [g.last_ingest_at, self.records.last_ingest.get(g.store_id)]), default=None)
            out.append({"name": g.name, "accountId": g.scope.account_id, "region": g.scope.region,
                        "status": g.status.value,
                        "onlineRecords": self.online.count(g.store_id, now) if g.online_enabled else None,
                        "offlineRecords": flushed + self.offline.pending(g.store_id) if g.offline else None,
                        "offlineFiles": files, "lastIngest": last})
        return out
