"""Starting `kiln server` as a subprocess and waiting until it answers: what the demo, the benchmarks
and the tests that kill and restart a server all need. The caller's `KILN_*` environment is not passed
on, so the server runs on its defaults plus what the caller sets."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


class ServerStartError(RuntimeError):
    """The server exited, or did not answer `/_kiln/health` in time; the message ends with its log."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(**overrides: str) -> dict[str, str]:
    """This process's environment without `KILN_*`, plus `overrides`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KILN_")}
    env.update(overrides)
    return env


def spawn_server(port: int, data_dir: Path, env: dict[str, str], log: Path | None, *,
                 log_level: str = "warning", append: bool = False) -> subprocess.Popen[bytes]:
    """`kiln server` on 127.0.0.1:`port`, its output to `log` (inherited when None)."""
    out = log.open("ab" if append else "wb") if log is not None else None
    try:
        return subprocess.Popen([sys.executable, "-m", "kiln", "server", "--port", str(port), "--data-dir",
                                 str(data_dir), "--log-level", log_level], env=env, stdout=out,
                                stderr=subprocess.STDOUT if out is not None else None)
    finally:
        if out is not None:
            out.close()  # the child holds its own descriptor


def wait_healthy(proc: subprocess.Popen[bytes], url: str, log: Path | None, timeout: float = 60.0) -> None:
    """Return once `url`/_kiln/health answers 200; ServerStartError if the server exits or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerStartError(f"kiln server exited with {proc.returncode}:\n{_tail(log)}")
        try:
            if httpx.get(f"{url}/_kiln/health", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise ServerStartError(f"kiln server not healthy after {timeout:g}s:\n{_tail(log)}")


def _tail(log: Path | None) -> str:
    return log.read_text(errors="replace")[-4000:] if log is not None and log.exists() else ""
