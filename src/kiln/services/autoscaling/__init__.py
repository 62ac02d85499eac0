"""Application Auto Scaling for SageMaker endpoint variants: the provider, its state, and the loop
that really changes instance counts (policy maths in `policy.py`)."""

from __future__ import annotations

from typing import Any

from kiln.aws.dispatch import Provider
from kiln.core.state.db import Database
from kiln.services.autoscaling import alarms
from kiln.services.autoscaling.loop import AutoscalingLoop
from kiln.services.autoscaling.service import AutoscalingService
from kiln.services.autoscaling.store import MIGRATIONS as STORE_MIGRATIONS
from kiln.services.autoscaling.store import AutoscalingStore

__all__ = ["MIGRATIONS", "Autoscaling"]

MIGRATIONS = [*STORE_MIGRATIONS, *alarms.MIGRATIONS]


class Autoscaling:
    def __init__(self, db: Database, endpoints: Any, metric_store: Any, *, interval: float = 10.0,
                 window: float = 60.0) -> None:
        self.store = AutoscalingStore(db)
        self.service = AutoscalingService(self.store, endpoints)
        self.alarms = alarms.AlarmStore(db)
        self.loop = AutoscalingLoop(self.store, endpoints, metric_store, interval=interval, window=window,
                                    alarms=self.alarms)
        self.service.notify = self.loop.notify

    def providers(self) -> list[Provider]:
        from kiln.services.autoscaling.provider import AutoscalingProvider
        from kiln.services.autoscaling.provider_alarms import AlarmsProvider

        return [AutoscalingProvider(self.service), AlarmsProvider(self.alarms, self.loop.notify)]

    async def start(self) -> None:
        await self.loop.start()

    async def stop(self) -> None:
        await self.loop.stop()
