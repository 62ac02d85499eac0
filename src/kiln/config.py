"""All of Kiln's configuration, read once from `KILN_*` environment variables and CLI flags."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_PORT = 8437


class Settings(BaseSettings):
    """Server settings. Every field can be set as `KILN_<NAME>` in the environment."""

    model_config = SettingsConfigDict(env_prefix="KILN_", extra="ignore")

    data_dir: Path = Field(default_factory=lambda: Path.home() / ".kiln")
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    account_id: str = Field(default="123456789012", pattern=r"^\d{12}$")
    region: str = "us-east-1"
    role_name: str = "KilnExecutionRole"
    database_url: str | None = None  # default: sqlite:///<data_dir>/kiln.db
    log_level: str = "info"
    # vCPUs jobs and replicas may take on this machine (0 = its CPU count); GPUs: "0,1" or "" (none).
    cpu_capacity: int = 0
    gpus: str | None = None
    # Jobs: SIGTERM, then this long before SIGKILL, on stop / timeout / spot interruption.
    stop_grace_seconds: float = 30.0
    # Managed spot: mean seconds between injected interruptions (0 = only `kiln spot interrupt`).
    spot_mtbi_seconds: float = 0.0
    # Managed spot: how long "capacity" takes to come back after an interruption.
    spot_restart_delay_seconds: float = 1.0

    @property
    def url(self) -> str:
        """How jobs and replicas on this machine reach the server."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}"

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'kiln.db'}"

    @property
    def default_bucket(self) -> str:
        """The bucket the SageMaker SDK would name for this account (`sagemaker-<region>-<account>`)."""
        return f"sagemaker-{self.region}-{self.account_id}"
