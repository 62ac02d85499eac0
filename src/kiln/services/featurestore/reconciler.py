"""Drives feature groups through Creating -> Created and Deleting -> gone, and sweeps expired records.

Wakes on every create/delete (or every second); a group whose step fails stays where it is and is
retried on the next tick. After a restart, groups left Creating or Deleting simply continue.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kiln.core.loop import ControlLoop
from kiln.services.featurestore.models import GroupStatus
from kiln.services.featurestore.online import OnlineStore
from kiln.services.featurestore.service import FeatureGroupService

LOG = logging.getLogger(__name__)
SWEEP_EVERY = 60.0


class FeatureStoreReconciler:
    def __init__(self, groups: FeatureGroupService, online: OnlineStore) -> None:
        self.groups = groups
        self.online = online
        self._control = ControlLoop("featurestore-reconciler", lambda: asyncio.to_thread(self.tick), 1.0)
        self._last_sweep = 0.0
        # Deletes flush the group's offline buffer to Parquet first, which can wait on a long flush:
        # they run on their own thread so that groups being created never queue behind them.
        self._deleter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="featurestore-delete")
        self._deleting: set[str] = set()
        self._deleting_lock = threading.Lock()

    def notify(self) -> None:
        """Thread-safe: wake the loop now."""
        self._control.notify()

    async def start(self) -> None:
        self._control.start()

    async def stop(self) -> None:
        await self._control.stop()
        await asyncio.to_thread(self._deleter.shutdown, wait=True)

    def tick(self) -> None:
        for group in self.groups.repo.list(statuses=(GroupStatus.CREATING, GroupStatus.DELETING)):
            if group.status is GroupStatus.CREATING:
                try:
                    self.groups.provision(group)
                except Exception:
                    LOG.exception("feature group %s: create step failed; will retry", group.name)
                continue
            with self._deleting_lock:
                if group.arn in self._deleting:
                    continue
                self._deleting.add(group.arn)
            self._deleter.submit(self._delete, group)
        now = time.time()
        if now - self._last_sweep >= SWEEP_EVERY:
            self._last_sweep = now
            swept = self.online.sweep_expired(now)
            if swept:
                LOG.info("online store: %d expired records removed", swept)

    def _delete(self, group: Any) -> None:
        try:
            self.groups.deprovision(group)
        except Exception:
            LOG.exception("feature group %s: delete step failed; will retry", group.name)
        finally:
            with self._deleting_lock:
                self._deleting.discard(group.arn)
