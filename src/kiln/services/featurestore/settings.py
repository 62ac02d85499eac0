"""Feature Store settings (`KILN_FEATURESTORE_*`), read once when the platform starts.

They live beside the feature store rather than in kiln/config.py so that the store's backends can be
chosen without touching the core settings (kept to the few knobs an operator needs).
"""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from kiln.services.featurestore.online import OnlineStore, SqliteOnlineStore


class FeatureStoreSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KILN_FEATURESTORE_", extra="ignore")

    # "sqlite" (embedded, <data dir>/featurestore/online.sqlite) or a Redis URL (redis://host:port/db).
    online_store: str = "sqlite"
    # The offline store writes Parquet at least this often, and sooner once `flush_rows` rows wait.
    flush_interval_seconds: float = 2.0
    flush_rows: int = 50_000


def open_online_store(settings: FeatureStoreSettings, data_dir: Path) -> OnlineStore:
    url = settings.online_store
    if url.startswith(("redis://", "rediss://", "unix://")):
        from kiln.services.featurestore.online_redis import RedisOnlineStore

        return RedisOnlineStore(url)
    if url != "sqlite":
        raise ValueError(f"KILN_FEATURESTORE_ONLINE_STORE: expected 'sqlite' or a redis:// URL, got {url!r}")
    return SqliteOnlineStore(data_dir / "featurestore" / "online.sqlite")
