"""Local processes for job hosts: a private mount namespace that shows the host's directory at
/opt/ml (and an /etc/hosts naming algo-1..N), death with the server, and group-wide signals.

All OS-level process handling lives here; the training runner only sees `HostProcess`.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

LOG = logging.getLogger(__name__)

OPT_ML = "/opt/ml"
OWNER_VAR = "KILN_JOB_OWNER"  # in every job process's environment: the data dir of the server that owns it
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass


def _own_group_die_with_parent() -> None:
    os.setpgid(0, 0)  # a process group of its own, in the server's session (uvloop has no process_group=)
    _die_with_parent()


@cache
def namespace_support() -> str | None:
    """Why private /opt/ml mounts are unavailable, or None when they work on this host."""
    try:
        Path(OPT_ML).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"cannot create {OPT_ML} ({exc.strerror})"
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "probe").write_text("ok")
        try:
            out = subprocess.run(
                ["unshare", "-m", "--propagation", "private", "sh", "-c",
                 f'mount --bind "$0" {OPT_ML} && cat {OPT_ML}/probe', tmp],
                capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"unshare is not available ({exc})"
        if out.returncode != 0 or out.stdout.strip() != "ok":
            return f"unshare -m failed: {out.stderr.strip()[:200] or out.returncode}"
    return None


@dataclass(slots=True)
class HostProcess:
    host: str
    process: asyncio.subprocess.Process

    @property
    def pid(self) -> int:
        return self.process.pid

    def signal(self, sig: int) -> None:
        try:
            os.killpg(self.process.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


async def spawn(host: str, argv: list[str], *, env: dict[str, str], cwd: str, host_dir: Path | None,
                hosts_file: Path | None, new_session: bool = True) -> HostProcess:
    """Start `argv` for one host. With `host_dir`, the process sees it at /opt/ml (private mount
    namespace); stdout and stderr are merged into one pipe. The process leads its own process group
    (group-wide signals); with `new_session=False` it stays in the server's session, so Linux's
    scheduler autogroup counts it with the server (model servers: otherwise each one gets only its
    own fair share of a busy machine, several times less than the server's workers)."""
    if host_dir is not None:
        script = f'mount --bind "$KILN_HOST_DIR" {OPT_ML}'
        if hosts_file is not None:
            script += ' && mount --bind "$KILN_HOSTS_FILE" /etc/hosts'
        script += ' && cd "$0" && exec "$@"'
        env = {**env, "KILN_HOST_DIR": str(host_dir), "KILN_HOSTS_FILE": str(hosts_file or "")}
        argv = ["unshare", "-m", "--propagation", "private", "sh", "-c", script, cwd, *argv]
    proc = await asyncio.create_subprocess_exec(
        *argv, env=env, cwd=cwd if host_dir is None else None, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT, stdin=asyncio.subprocess.DEVNULL, start_new_session=new_session,
        preexec_fn=_die_with_parent if new_session else _own_group_die_with_parent, limit=1 << 20)
    return HostProcess(host, proc)


def kill_orphans(owner: str) -> list[int]:
    """SIGKILL the process groups of job processes left by an earlier server on the same data dir
    (found by their KILN_JOB_OWNER environment entry). Call before starting any job. Returns pids."""
    killed: list[int] = []
    me = os.getpid()
    marker = f"{OWNER_VAR}={owner}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if marker not in environ:
            continue
        pid = int(entry.name)
        try:
            os.killpg(os.getpgid(pid), signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                continue
        killed.append(pid)
    return killed
