"""Shared fixtures: a live Kiln server on a free loopback port, and boto3 clients pointed at it."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import uvicorn
from botocore.config import Config

from kiln.app import KilnApp, build_app
from kiln.config import Settings

REGION = "us-east-1"
ACCOUNT = "123456789012"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """uvicorn serving Kiln in a background thread of the test process."""

    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self.data_dir = data_dir
        self.settings = Settings(data_dir=data_dir, port=self.port, account_id=ACCOUNT, region=REGION)
        self.app: KilnApp = build_app(self.settings)
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port,
                                                    log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def platform(self) -> Any:
        return self.app.state.platform

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.time() + 30
        while not self.server.started:
            if time.time() > deadline or not self.thread.is_alive():
                raise RuntimeError("Kiln test server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)

    def client(self, service: str, **config: Any) -> Any:
        return boto3.client(service, endpoint_url=self.url, region_name=REGION, aws_access_key_id="kiln",
                            aws_secret_access_key="kiln",
                            config=Config(retries={"max_attempts": 1, "mode": "standard"}, **config))

    def env(self) -> dict[str, str]:
        """Environment for a subprocess that should talk to this server (what `kiln env` prints)."""
        from kiln.envvars import client_env

        return {**os.environ, **client_env(self.url, self.settings, self.data_dir / "client")}


@pytest.fixture(scope="session")
def kiln_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path_factory.mktemp("kiln-data")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def aws_client(kiln_server: LiveServer) -> Callable[..., Any]:
    return kiln_server.client


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> str:
    import uuid

    base = request.node.name.lower().replace("_", "-")[:30].strip("-[]")
    return f"{base}-{uuid.uuid4().hex[:6]}"
