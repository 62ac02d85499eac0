"""`kiln server` as a real process: starts, answers health, `kiln status` reads it, SIGTERM stops it."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kiln.launch import clean_env, free_port, spawn_server, wait_healthy


def kiln(*args: str) -> list[str]:
    return [sys.executable, "-m", "kiln", *args]


class ServerProcess:
    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = data_dir.parent / f"server-{self.port}.log"
        self.proc = spawn_server(self.port, data_dir, clean_env(), self.log, log_level="info")

    def wait_healthy(self, timeout: float = 60.0) -> None:
        wait_healthy(self.proc, self.url, self.log, timeout)

    def terminate(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)


@pytest.fixture
def server_process(tmp_path: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path / "data")
    try:
        yield server
    finally:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait(timeout=10)


def test_server_starts_reports_status_and_stops_on_sigterm(server_process: ServerProcess, tmp_path: Path) -> None:
    server_process.wait_healthy()
    health = httpx.get(f"{server_process.url}/_kiln/health").json()
    assert health["status"] == "ok" and health["dataDir"] == str(tmp_path / "data")
    assert (tmp_path / "data" / "kiln.db").exists()

    status = subprocess.run(kiln("status", "--endpoint", server_process.url), env=clean_env(),
                            capture_output=True, text=True, timeout=60)
    assert status.returncode == 0, status.stderr
    for text in ("ready", str(tmp_path / "data"), "123456789012", "us-east-1", "logGroups"):
        assert text in status.stdout

    # uvicorn shuts down gracefully, then re-raises the signal it caught (so exit status is -SIGTERM).
    assert server_process.terminate() in (0, -signal.SIGTERM)
    log = server_process.log.read_text()
    assert "Application shutdown complete" in log and "Traceback" not in log
    gone = subprocess.run(kiln("status", "--endpoint", server_process.url), env=clean_env(),
                          capture_output=True, text=True, timeout=60)
    assert gone.returncode == 1
    assert gone.stderr.startswith("kiln: no Kiln server answering") and "Traceback" not in gone.stderr


def test_server_refuses_a_non_loopback_host(tmp_path: Path) -> None:
    port = free_port()
    out = subprocess.run(kiln("server", "--host", "0.0.0.0", "--port", str(port), "--data-dir", str(tmp_path)),
                         env=clean_env(), capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "kiln: refusing to listen on non-loopback address 0.0.0.0: Kiln has no authentication. "
        "Pass --allow-remote to do it anyway."]
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/_kiln/health", timeout=1.0)


def test_port_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = subprocess.run(kiln("server", "--port", str(port), "--data-dir", str(tmp_path)),
                             env=clean_env(), capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    assert f"port {port} on 127.0.0.1 is already in use" in out.stderr
