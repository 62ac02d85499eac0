"""A `kiln server` subprocess for the benchmarks: a free loopback port, ready once `/_kiln/health`
answers, stopped with SIGTERM (then SIGKILL). The benchmark's own `KILN_*` environment is not passed
on, so each run measures the defaults plus what the benchmark sets."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from kiln.launch import ServerStartError, clean_env, free_port, spawn_server, wait_healthy


class KilnServer:
    def __init__(self, data_dir: Path, env: dict[str, str] | None = None, log: Path | None = None,
                 timeout: float = 60.0) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = data_dir
        self.log = log
        self.proc = spawn_server(self.port, data_dir, clean_env(**(env or {})), log, append=True)
        try:
            wait_healthy(self.proc, self.url, log, timeout)
        except ServerStartError:
            self.stop()
            raise

    def client(self, service: str, config: Config | None = None) -> Any:
        return boto3.client(service, endpoint_url=self.url, region_name="us-east-1", aws_access_key_id="kiln",
                            aws_secret_access_key="kiln", config=config)

    def stop(self, timeout: float = 30.0) -> None:
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> KilnServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
