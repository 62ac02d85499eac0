"""Asynchronous inference (`AsyncInferenceConfig` endpoints): InvokeEndpointAsync, the durable queue
in Kiln's database, the workers that answer it through the endpoint's replicas, notifications
(Kiln's SNS) and backlog metrics. `Hosting` builds one `AsyncInference` and starts it."""

from __future__ import annotations

from typing import Any

from kiln.aws.dispatch import Provider
from kiln.core.state.db import Database
from kiln.services.hosting.asyncq.config import validate
from kiln.services.hosting.asyncq.store import MIGRATIONS, AsyncQueue
from kiln.services.hosting.asyncq.worker import AsyncDispatcher

__all__ = ["MIGRATIONS", "AsyncInference", "validate"]


class AsyncInference:
    def __init__(self, db: Database, objects: Any, hosting: Any, router: Any, metric_store: Any, sns: Any,
                 invocation_metrics: Any = None, *, poll: float = 1.0, metrics_every: float = 10.0) -> None:
        self.queue = AsyncQueue(db)
        self.dispatcher = AsyncDispatcher(self.queue, objects, hosting, router, metric_store, sns, invocation_metrics,
                                          poll=poll, metrics_every=metrics_every)

    def providers(self) -> list[Provider]:
        from kiln.services.hosting.asyncq.provider import AsyncInvokeProvider

        return [AsyncInvokeProvider(self.dispatcher.hosting, self.queue, self.dispatcher)]

    async def start(self) -> None:
        await self.dispatcher.start()

    async def stop(self) -> None:
        await self.dispatcher.stop()
