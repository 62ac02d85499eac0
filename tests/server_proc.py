"""`kiln server` as a real subprocess, for tests that kill and restart it."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from kiln.launch import clean_env, free_port, spawn_server, wait_healthy

__all__ = ["ServerProcess", "clean_env", "free_port", "job_pids"]


class ServerProcess:
    def __init__(self, data_dir: Path, port: int | None = None, **env: str) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = data_dir.parent / f"server-{self.port}.log"
        self.proc = spawn_server(self.port, data_dir, clean_env(**env), self.log, append=True)

    def wait_healthy(self, timeout: float = 60.0) -> ServerProcess:
        wait_healthy(self.proc, self.url, self.log, timeout)
        return self

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def terminate(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.url, region_name="us-east-1", aws_access_key_id="kiln",
                            aws_secret_access_key="kiln", config=Config(retries={"max_attempts": 1}))


def job_pids(owner: Path) -> set[int]:
    """Processes whose environment marks them as jobs of the server on `owner` (a data dir)."""
    marker = f"KILN_JOB_OWNER={owner.resolve()}".encode()
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "environ").read_bytes().split(b"\0"):
                    found.add(int(entry.name))
            except OSError:
                continue
    return found
