"""The running platform: state store, object store, logs, and every service area's provider.

One instance per server process. `app.py` turns it into ASGI; the CLI and tests build it directly.
"""

from __future__ import annotations

import logging
from typing import Any

from kiln.aws.dispatch import Provider
from kiln.config import Settings
from kiln.core.state.db import Database, Migration
from kiln.services.identity.provider import IamProvider, StsProvider
from kiln.services.logs import tables as logs_tables
from kiln.services.logs.provider import LogsProvider
from kiln.services.logs.store import LogStore

LOG = logging.getLogger(__name__)


class Platform:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.db = Database(settings.db_url)
        applied = self.db.migrate(self.migrations())
        if applied:
            LOG.info("applied migrations: %s", ", ".join(applied))
        self.logs = LogStore(self.db)

    @staticmethod
    def migrations() -> list[Migration]:
        out: list[Migration] = []
        out += logs_tables.MIGRATIONS
        return out

    def providers(self) -> list[Provider]:
        return [StsProvider(self.settings.role_name), IamProvider(), LogsProvider(self.logs)]

    async def start(self) -> None:
        """Recover from a crash and start background loops."""

    async def stop(self) -> None:
        self.db.dispose()

    def status(self) -> dict[str, Any]:
        return {"dataDir": str(self.settings.data_dir), "accountId": self.settings.account_id,
                "region": self.settings.region, "resources": {**self.logs.counts()}}
