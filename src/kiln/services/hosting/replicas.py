"""Replicas: one model-server process per endpoint instance. `ReplicaLauncher` is the port the
reconciler drives; `LocalProcessLauncher` runs `python -m kiln.serving` on a free loopback port in
a private mount namespace that shows the replica's directory at /opt/ml (as training hosts do), with
vCPU/GPU slots from the instance catalog and its output in CloudWatch Logs
(`/aws/sagemaker/Endpoints/<endpoint>`, stream `<variant>/<instance id>`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from kiln.core.instances import lookup
from kiln.core.scope import Scope
from kiln.execution import runtimes
from kiln.execution.local import process
from kiln.execution.slots import Lease, SlotPool
from kiln.services.hosting import artifacts, serverless
from kiln.services.hosting.multimodel import is_multimodel
from kiln.services.hosting.router import ReplicaTarget
from kiln.services.hosting.upstream import UpstreamPool, ping
from kiln.services.s3.store import ObjectStore

LOG = logging.getLogger(__name__)
LOAD_FAILED = "KILN_MODEL_LOAD_FAILED: "


def log_group(endpoint: str) -> str:
    return f"/aws/sagemaker/Endpoints/{endpoint}"


def new_instance_id() -> str:
    return "i-" + uuid.uuid4().hex[:17]


class ReplicaState(StrEnum):
    STARTING = "Starting"
    HEALTHY = "Healthy"
    DRAINING = "Draining"
    STOPPED = "Stopped"
    FAILED = "Failed"


class ReplicaStartError(Exception):
    """The replica never became healthy; the message is fit for FailureReason. `retryable` is False
    when trying again cannot help (the model's own code refused to load)."""

    def __init__(self, message: str, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True, slots=True)
class ReplicaSpec:
    scope: Scope
    endpoint: str
    variant: str
    generation: int
    model_name: str
    model: dict[str, Any]  # the CreateModel spec
    instance_type: str
    startup_timeout: float
    memory_mb: int | None = None  # serverless: the replica's memory limit (serverless.memory_limited)
    incarnation: str = ""  # the endpoint's creation time: a re-created endpoint shares no multi-model cache


@dataclass(eq=False)
class Replica:
    spec: ReplicaSpec
    id: str = field(default_factory=new_instance_id)
    state: ReplicaState = ReplicaState.STARTING
    target: ReplicaTarget | None = None  # the data path's view, once healthy
    started: float = field(default_factory=time.monotonic)
    healthy_at: float | None = None
    failure: str | None = None
    ping_failures: int = 0
    handle: Any = None  # launcher-specific (LocalHandle)

    @property
    def alive(self) -> bool:
        return self.state in (ReplicaState.STARTING, ReplicaState.HEALTHY)


class ReplicaLauncher(Protocol):
    async def launch(self, replica: Replica) -> ReplicaTarget:
        """Start the replica and wait until it answers /ping. Raises ReplicaStartError."""

    async def wait_exit(self, replica: Replica) -> int:
        """Return when the replica's process ends, with its exit code."""

    async def stop(self, replica: Replica, grace: float) -> None:
        """Stop it (SIGTERM, then SIGKILL after `grace`) and free its resources. Idempotent."""

    async def check(self, replica: Replica) -> bool:
        """One health check (GET /ping)."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(slots=True)
class LocalHandle:
    proc: process.HostProcess | None = None
    port: int = 0
    lease: Lease | None = None
    pool: UpstreamPool | None = None
    pump: asyncio.Task[None] | None = None
    tail: list[str] = field(default_factory=list)
    load_error: str | None = None
    setup_ms: float | None = None
    uds: str | None = None  # the replica's unix socket (Kiln's own model server), else TCP on `port`


class LocalProcessLauncher:
    def __init__(self, *, objects: ObjectStore, logs: Any, slots: SlotPool, replicas_dir: Path, cache_dir: Path,
                 endpoint_url: str, owner: str, multimodel: Any = None) -> None:
        self.objects = objects
        self.multimodel = multimodel  # multimodel.MultiModelHosting: replicas of `Mode: MultiModel` models
        self.logs = logs
        self.slots = slots
        self.replicas_dir = replicas_dir
        self.cache_dir = cache_dir
        self.endpoint_url = endpoint_url
        self.owner = owner

    def _lease(self, instance_type: str) -> Lease:
        """The instance's vCPUs/GPUs when free; fewer when not (down to one vCPU); else none (shared)."""
        shape = lookup(instance_type)
        cpus, gpus = self.slots.fit(shape.vcpu, shape.gpus)
        for want in range(cpus, 0, -1):
            lease = self.slots.try_acquire(want, gpus)
            if lease is not None:
                return lease
        return Lease(0, ())

    def _log(self, replica: Replica, lines: list[tuple[int, str]]) -> None:
        spec = replica.spec
        try:
            self.logs.ensure_stream(spec.scope, log_group(spec.endpoint), f"{spec.variant}/{replica.id}")
            self.logs.put_events(spec.scope, log_group(spec.endpoint), f"{spec.variant}/{replica.id}", lines)
        except Exception:
            LOG.exception("endpoint log write failed")

    def note(self, replica: Replica, text: str) -> None:
        self._log(replica, [(int(time.time() * 1000), text)])

    async def launch(self, replica: Replica) -> ReplicaTarget:
        spec = replica.spec
        handle = replica.handle = LocalHandle()
        container = (spec.model.get("PrimaryContainer") or (spec.model.get("Containers") or [{}])[0])
        env_in = dict(container.get("Environment") or {})
        image = container.get("Image") or ""
        if not image:
            raise ReplicaStartError("Kiln cannot deploy this model: its container names no Image (model packages "
                                    "are not supported yet).")
        try:
            repo, _ = runtimes.parse_image(image)
            runtime = runtimes.resolve(image, script_mode=True)
        except runtimes.UnknownImage as exc:
            raise ReplicaStartError(str(exc)) from exc
        # A built-in algorithm image serves with its own `serve` command (SageMaker's `docker run <image> serve`).
        multi = self.multimodel is not None and is_multimodel(spec.model)  # Kiln's model server serves
        builtin = runtimes.ALGORITHMS.get(repo) if not env_in.get("SAGEMAKER_PROGRAM") and not multi else None
        framework = runtime.framework
        handle.lease = self._lease(spec.instance_type)

        def note(text: str) -> None:
            self.note(replica, text)

        try:
            prepared = await asyncio.to_thread(
                artifacts.prepare, self.objects, self.cache_dir / "models",
                [spec.scope.account_id, spec.scope.region, spec.model_name, str(spec.model)],
                {k: v for k, v in container.items() if k != "ModelDataUrl"} if multi else container,
                runtime.python, note)
        except artifacts.ArtifactError as exc:
            raise ReplicaStartError(str(exc)) from exc
        root = self.replicas_dir / spec.scope.account_id / spec.scope.region / spec.endpoint / replica.id
        root.mkdir(parents=True, exist_ok=True)
        (root / "model").symlink_to(prepared.model_dir, target_is_directory=True)
        if prepared.code_dir is not None:
            (root / "code").symlink_to(prepared.code_dir, target_is_directory=True)
        models_dir, multi_env = None, {}
        if multi:  # the endpoint's model cache, seen as /opt/ml/models
            try:
                models_dir, multi_env = self.multimodel.prepare(replica.id, spec.scope.account_id, spec.scope.region,
                                                                spec.endpoint, spec.instance_type, container,
                                                                incarnation=spec.incarnation)
            except ValueError as exc:
                raise ReplicaStartError(str(exc), retryable=False) from exc
            (root / "models").symlink_to(models_dir, target_is_directory=True)
        isolated = process.namespace_support() is None
        seen = process.OPT_ML if isolated else str(root)
        handle.port = _free_port()
        if not builtin:  # Kiln's model server: a unix socket (short path: sun_path holds 108 bytes)
            handle.uds = os.path.join(tempfile.gettempdir(), f"kiln-{replica.id}.sock")
        env = self._environment(spec, env_in, handle, framework, seen, prepared)
        env.update(multi_env)
        argv = [runtime.python, "-m", builtin, "serve"] if builtin else [runtime.python, "-m", "kiln.serving"]
        if spec.memory_mb:
            argv = serverless.memory_limited(argv, runtime.python, spec.memory_mb)
            note(f"Serverless: memory limited to {spec.memory_mb} MB (RLIMIT_DATA).")
        if note_text := runtime.version_note():
            note(note_text)
        handle.proc = await process.spawn(replica.id, argv, env=env, cwd=str(root), host_dir=root if isolated else None,
                                          hosts_file=None, new_session=False)
        handle.pump = asyncio.create_task(self._pump(replica, handle))
        target = await self._wait_healthy(replica, handle)
        if models_dir is not None:
            self.multimodel.register(replica.id, (spec.scope.account_id, spec.scope.region, spec.endpoint,
                                                  spec.variant), container, models_dir, f"{seen}/models")
        return target

    def _environment(self, spec: ReplicaSpec, env_in: dict[str, str], handle: LocalHandle, framework: str,
                     seen: str, prepared: artifacts.PreparedModel) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KILN_", "SM_", "SAGEMAKER_"))}
        env.update(env_in)
        submit = env_in.get("SAGEMAKER_SUBMIT_DIRECTORY", "")
        if not submit or submit.startswith("s3://"):
            submit = f"{seen}/code" if prepared.code_dir is not None else f"{seen}/model/code"
        threads = str(max(1, handle.lease.cpus if handle.lease else 1))
        lease_gpus = handle.lease.gpus if handle.lease else ()
        env.update({
            "SAGEMAKER_BIND_TO_PORT": str(handle.port), "SAGEMAKER_SUBMIT_DIRECTORY": submit,
            "SAGEMAKER_REGION": env_in.get("SAGEMAKER_REGION", spec.scope.region),
            "SM_MODEL_DIR": f"{seen}/model", "KILN_OPT_ML": seen, "KILN_SERVING_FRAMEWORK": framework,
            "KILN_SERVING_UDS": handle.uds or "",
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": os.pathsep.join([*prepared.extra_path, *filter(None, [os.environ.get("PYTHONPATH")])]),
            "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads,
            "CUDA_VISIBLE_DEVICES": ",".join(lease_gpus),
            "AWS_ENDPOINT_URL": self.endpoint_url, "AWS_ENDPOINT_URL_S3": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": "kiln", "AWS_SECRET_ACCESS_KEY": "kiln", "AWS_REGION": spec.scope.region,
            "AWS_DEFAULT_REGION": spec.scope.region, process.OWNER_VAR: self.owner,
        })
        return env

    async def _pump(self, replica: Replica, handle: LocalHandle) -> None:
        assert handle.proc is not None

        def on_line(text: str, _ts: float) -> None:
            handle.tail = [*handle.tail[-19:], text]
            if text.startswith(LOAD_FAILED):
                handle.load_error = text[len(LOAD_FAILED):]
            elif text.startswith("KILN_MODEL_SETUP_MS="):
                with contextlib.suppress(ValueError):
                    handle.setup_ms = float(text.split("=", 1)[1])

        stdout = handle.proc.process.stdout
        assert stdout is not None
        while True:  # model servers log little: no polling timer, one store write per burst of lines
            try:
                raw = await stdout.readline()
            except ValueError:  # a line longer than the stream limit
                raw = await stdout.read(1 << 20)
            if not raw:
                return
            batch = []
            while raw:
                text = raw.decode("utf-8", "replace").rstrip("\r\n")
                on_line(text, time.time())
                batch.append((int(time.time() * 1000), text))
                buffered = getattr(stdout, "_buffer", b"")  # lines already read: take them in this batch
                raw = await stdout.readline() if b"\n" in buffered else b""
            await asyncio.to_thread(self._log, replica, batch)

    async def _wait_healthy(self, replica: Replica, handle: LocalHandle) -> ReplicaTarget:
        assert handle.proc is not None
        proc = handle.proc.process
        deadline = time.monotonic() + replica.spec.startup_timeout
        exited = asyncio.ensure_future(proc.wait())
        try:
            while True:
                if exited.done():
                    if handle.pump is not None:
                        with contextlib.suppress(Exception):
                            await asyncio.wait_for(asyncio.shield(handle.pump), 5)
                    raise ReplicaStartError(self._reason(replica, handle, f"the model server exited with code "
                                                                          f"{proc.returncode}"),
                                            retryable=handle.load_error is None)
                if await ping("127.0.0.1", handle.port, timeout=2.0, uds=handle.uds) == 200:
                    handle.pool = UpstreamPool("127.0.0.1", handle.port, uds=handle.uds)
                    return ReplicaTarget(replica.id, replica.spec.variant, handle.pool, instance_id=replica.id)
                if time.monotonic() > deadline:
                    raise ReplicaStartError(self._reason(replica, handle, f"no healthy /ping within "
                                                                          f"{replica.spec.startup_timeout:g} s"))
                await asyncio.wait({exited}, timeout=0.1)
        finally:
            if not exited.done():
                exited.cancel()

    @staticmethod
    def _reason(replica: Replica, handle: LocalHandle, what: str) -> str:
        detail = handle.load_error or " | ".join(line for line in handle.tail[-3:] if line.strip()) or what
        return (f"The primary container for production variant {replica.spec.variant} did not pass the ping "
                f"health check. Please check CloudWatch logs for this endpoint. Kiln: {detail}")[:1024]

    async def wait_exit(self, replica: Replica) -> int:
        handle: LocalHandle = replica.handle
        assert handle is not None and handle.proc is not None
        return await handle.proc.process.wait()

    async def check(self, replica: Replica) -> bool:
        handle: LocalHandle = replica.handle
        return handle is not None and await ping("127.0.0.1", handle.port, timeout=2.0, uds=handle.uds) == 200

    async def stop(self, replica: Replica, grace: float) -> None:
        handle: LocalHandle | None = replica.handle
        if handle is None:
            return
        replica.handle = None
        if self.multimodel is not None:
            self.multimodel.unregister(replica.id)
        if handle.pool is not None:
            handle.pool.close()
        proc = handle.proc
        if proc is not None and proc.process.returncode is None:
            proc.signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.process.wait(), grace)
            except TimeoutError:
                proc.signal(signal.SIGKILL)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(proc.process.wait(), 10)
        if proc is not None:
            proc.signal(signal.SIGKILL)  # anything the server left in its group
        if handle.pump is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(handle.pump, 5)
        if handle.lease is not None and handle.lease.cpus:
            self.slots.release(handle.lease)
            handle.lease = None
        if handle.uds:
            with contextlib.suppress(OSError):
                os.unlink(handle.uds)

    def setup_ms(self, replica: Replica) -> float | None:
        handle: LocalHandle | None = replica.handle
        return handle.setup_ms if handle else None

