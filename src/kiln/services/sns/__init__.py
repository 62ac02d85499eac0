"""A minimal Amazon SNS: topics, http/https subscriptions, Publish (every message kept and readable
with `SnsService.messages()`). Asynchronous inference publishes its notifications here."""

from __future__ import annotations

from kiln.aws.dispatch import Provider
from kiln.core.state.db import Database
from kiln.services.sns.delivery import HttpDelivery
from kiln.services.sns.service import SnsService
from kiln.services.sns.store import MIGRATIONS, SnsStore

__all__ = ["MIGRATIONS", "Sns", "SnsService"]


class Sns:
    def __init__(self, db: Database, endpoint_url: str) -> None:
        self.store = SnsStore(db)
        self.delivery = HttpDelivery(endpoint_url, self.store.set_deliveries)
        self.service = SnsService(self.store, self.delivery)

    def providers(self) -> list[Provider]:
        from kiln.services.sns.provider import SnsProvider

        return [SnsProvider(self.service)]

    def close(self) -> None:
        self.delivery.close()
