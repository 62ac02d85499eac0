"""Batch transform: CreateTransformJob and friends. A job runs the model for real: one model server
per instance (the real-time hosting launcher), the input split and batched, outputs assembled as
`<input>.out`, logs in CloudWatch Logs (`/aws/sagemaker/TransformJobs`).

`Transform` wires the parts together for the platform (`kiln/platform.py`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kiln.aws.dispatch import Provider
from kiln.core.state.db import Database
from kiln.execution.slots import SlotPool
from kiln.services.s3.store import ObjectStore
from kiln.services.transform.launcher import TransformLauncher
from kiln.services.transform.reconciler import TransformReconciler
from kiln.services.transform.repository import TransformJobRepository
from kiln.services.transform.runner import RunnerDeps
from kiln.services.transform.service import ModelLookup, TransformService
from kiln.services.transform.tables import MIGRATIONS

__all__ = ["MIGRATIONS", "Transform"]


class Transform:
    def __init__(self, *, db: Database, objects: ObjectStore, logs: Any, tags: Any, slots: SlotPool, data_dir: Path,
                 endpoint_url: str, owner: str, models: ModelLookup) -> None:
        self.tags = tags
        self.service = TransformService(TransformJobRepository(db), models)
        owner = f"{owner}#transform"
        launcher = TransformLauncher(objects=objects, logs=logs, slots=slots,
                                     replicas_dir=data_dir / "transform" / "instances",
                                     cache_dir=data_dir / "hosting" / "cache",  # models unpacked once for both
                                     endpoint_url=endpoint_url, owner=owner)
        self.reconciler = TransformReconciler(RunnerDeps(service=self.service, objects=objects, launcher=launcher,
                                                         jobs_dir=data_dir / "transform" / "work"), owner)
        self.service.notify = self.reconciler.notify

    def providers(self) -> list[Provider]:
        from kiln.services.transform.provider import TransformProvider

        return [TransformProvider(self.service, self.tags)]

    async def start(self) -> None:
        await self.reconciler.start()

    async def stop(self) -> None:
        await self.reconciler.stop()

    def count(self) -> int:
        return self.service.repo.count()
