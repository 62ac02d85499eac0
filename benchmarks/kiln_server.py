"""A `kiln server` subprocess for the benchmarks: a free loopback port, ready once `/_kiln/health`
answers, stopped with SIGTERM (then SIGKILL). The benchmark's own `KILN_*` environment is not passed
on, so each run measures the defaults plus what the benchmark sets."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import httpx
from botocore.config import Config


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class KilnServer:
    def __init__(self, data_dir: Path, env: dict[str, str] | None = None, log: Path | None = None,
                 timeout: float = 60.0) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = data_dir
        self.log = log
        base = {k: v for k, v in os.environ.items() if not k.startswith("KILN_")}
        out = log.open("ab") if log is not None else None
        self.proc = subprocess.Popen([sys.executable, "-m", "kiln", "server", "--port", str(self.port), "--data-dir",
                                      str(data_dir), "--log-level", "warning"], env={**base, **(env or {})},
                                     stdout=out, stderr=subprocess.STDOUT if out is not None else None)
        if out is not None:
            out.close()  # the child holds its own descriptor
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = log.read_text()[-2000:] if log is not None else ""
                raise RuntimeError(f"kiln server exited with {self.proc.returncode}\n{tail}")
            try:
                if httpx.get(f"{self.url}/_kiln/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("kiln server did not start")

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
