"""Multi-model endpoints, the platform's side (`PrimaryContainer.Mode = MultiModel`, `ModelDataUrl` an
S3 prefix): InvokeEndpoint with `TargetModel` on the server's event loop.

Per request: (1) the replica: one that already holds (or is loading) the target model, the least busy
of them (a model with `HOT` requests queued on its replica is loaded on an idle one too); else power
of two choices over all. (2) On a miss: download `<prefix><TargetModel>` into the
endpoint's model cache on this machine (once; every replica sees it at `/opt/ml/models/<name>/model`),
then `POST /models` on the replica; a 507 (the container's memory budget is full) unloads the replica's
least recently used model (`DELETE /models/<name>`, models with requests in flight last) and tries
again. Concurrent requests for a model that is loading wait for that one load. (3) `POST
/models/<name>/invoke`; a 404 from the container (the model was unloaded meanwhile) loads it again,
once. Loads outlast the 60 s invocation limit in the background: the caller gets
`ModelNotReadyException` (429) and a retry finds the model loaded.

Memory budget per replica: the instance type's memory (`kiln.core.instances`), or
`KILN_MULTIMODEL_MEMORY_MB` in the model's container Environment, or the server-wide
`KILN_HOSTING_MULTIMODEL_MEMORY_MB` (read when a replica starts): the container enforces it (507).
`MultiModelConfig.ModelCacheSetting = Disabled`: an unloaded model's files leave the disk cache too.
Artifacts added under the prefix later are found on first use: nothing is listed ahead of time.
Replicas run Kiln's model server in multi-model mode (`kiln.serving.multimodel`), also for built-in
algorithm images (XGBoost: the `xgboost-model` of each archive with the XGBoost framework's handlers).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kiln.aws import errors
from kiln.aws.context import RequestContext
from kiln.core.instances import lookup
from kiln.services.hosting import multimodel_artifacts as artifacts
from kiln.services.hosting.invoke_errors import ModelError, no_instance, timed_out, unavailable
from kiln.services.hosting.invoke_errors import ModelNotReadyException as ModelNotReady
from kiln.services.hosting.metrics import VariantKey
from kiln.services.hosting.multimodel_metrics import MultiModelMetrics
from kiln.services.hosting.router import ReplicaTarget, VariantRoute
from kiln.services.hosting.upstream import UpstreamError, UpstreamResponse, UpstreamTimeout
from kiln.services.s3.store import ObjectStore

LOG = logging.getLogger(__name__)
LOAD_TIMEOUT = 360.0  # SageMaker keeps loading a model for up to 360 s
HOT = 4  # requests of one model queued on its replica before an idle replica loads it too
_TARGET = re.compile(r"\A\S[\x20-\x7e]*\Z")  # the model's pattern \A\S[\p{Print}]*\z for the ASCII the header carries
GIB = 1024 ** 3


def is_multimodel(model: dict[str, Any]) -> bool:
    """Whether a CreateModel spec's container (the primary, or the first) runs in `Mode: MultiModel`."""
    container: dict[str, Any] = model.get("PrimaryContainer") or (model.get("Containers") or [{}])[0]
    mode: str = container.get("Mode") or ""
    return mode == "MultiModel"


def memory_budget(instance_type: str, env_in: dict[str, str]) -> int:
    """Bytes of models one replica may hold. Raises ValueError naming a bad override."""
    for name, raw in (("KILN_MULTIMODEL_MEMORY_MB", env_in.get("KILN_MULTIMODEL_MEMORY_MB")),
                      ("KILN_HOSTING_MULTIMODEL_MEMORY_MB", os.environ.get("KILN_HOSTING_MULTIMODEL_MEMORY_MB"))):
        if raw:
            try:
                mb = float(raw)
            except ValueError:
                mb = -1.0
            if mb <= 0:
                raise ValueError(f"{name}={raw!r}: the multi-model memory budget must be a positive number of MB.")
            return max(1, int(mb * 1024 * 1024))
    return int(lookup(instance_type).memory_gib * GIB)


@dataclass(eq=False)
class MultiModelReplica:
    """What the platform knows of one replica's loaded models (the container is the truth on memory)."""

    id: str
    key: VariantKey
    prefix: str
    models_dir: Path  # on this machine
    container_models: str  # the same directory as the container sees it (/opt/ml/models)
    cache_enabled: bool = True
    loaded: OrderedDict[str, float] = field(default_factory=OrderedDict)  # name -> last use, LRU first
    loading: dict[str, asyncio.Future[None]] = field(default_factory=dict)
    inflight: dict[str, int] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one load/unload sequence at a time
    targets: dict[str, str] = field(default_factory=dict)  # name -> TargetModel (logs, listings)


class MultiModelHosting:
    def __init__(self, objects: ObjectStore, cache_root: Path, metrics: MultiModelMetrics | None = None) -> None:
        self.objects = objects
        self.cache_root = cache_root
        self.metrics = metrics or MultiModelMetrics()
        self.metrics.loaded_counts = self.loaded_counts
        self.replicas: dict[str, MultiModelReplica] = {}
        self._downloads: dict[Path, asyncio.Future[None]] = {}
        self._dirs: dict[str, Path] = {}  # replica id -> its endpoint's model cache, from prepare to unregister
        self._cleanups: set[asyncio.Future[None]] = set()
        self.cache_grace = 60.0  # seconds an endpoint's model cache outlives its last replica (a replacement reuses it)

    # -- replicas (the launcher's hooks) ---------------------------------------------------------------
    def prepare(self, replica_id: str, account: str, region: str, endpoint: str, instance_type: str,
                container: dict[str, Any], incarnation: str = "") -> tuple[Path, dict[str, str]]:
        """The endpoint's model cache directory and the environment a multi-model replica runs with.
        Raises ValueError (a reason fit for FailureReason)."""
        prefix = container.get("ModelDataUrl") or ""
        if not prefix.startswith("s3://"):
            raise ValueError(f"A MultiModel container needs ModelDataUrl to be an S3 prefix (s3://bucket/prefix/); "
                             f"got {prefix!r}.")
        env_in = dict(container.get("Environment") or {})
        budget = memory_budget(instance_type, env_in)
        models_dir = artifacts.endpoint_dir(self.cache_root, account, region, f"{endpoint}\0{incarnation}", prefix)
        models_dir.mkdir(parents=True, exist_ok=True)
        self._dirs[replica_id] = models_dir
        return models_dir, {"SAGEMAKER_MULTI_MODEL": "true", "KILN_MULTIMODEL_MEMORY_BYTES": str(budget)}

    def register(self, replica_id: str, key: VariantKey, container: dict[str, Any], models_dir: Path,
                 container_models: str) -> None:
        cache = ((container.get("MultiModelConfig") or {}).get("ModelCacheSetting") or "Enabled") != "Disabled"
        self.replicas[replica_id] = MultiModelReplica(replica_id, key, container["ModelDataUrl"], models_dir,
                                                      container_models, cache)

    def unregister(self, replica_id: str) -> None:
        """The replica stopped. Loads in flight on it fail on their own (its connections are closed), and
        their requests go to another instance."""
        self.replicas.pop(replica_id, None)
        models_dir = self._dirs.pop(replica_id, None)
        if models_dir is not None and models_dir not in self._dirs.values():
            with contextlib.suppress(RuntimeError):  # no loop: the server is going down, the files stay
                asyncio.get_running_loop().call_later(self.cache_grace, self._drop_cache, models_dir)

    def _drop_cache(self, models_dir: Path) -> None:
        """The endpoint's model cache, once no replica (running or starting) uses it."""
        if models_dir not in self._dirs.values() and not any(p.parent == models_dir for p in self._downloads):
            LOG.info("removing the multi-model cache %s (no replica uses it)", models_dir)
            task = asyncio.ensure_future(asyncio.to_thread(artifacts.remove, models_dir))
            self._cleanups.add(task)
            task.add_done_callback(self._cleanups.discard)

    def serves(self, variant: VariantRoute) -> bool:
        """Whether the variant runs a multi-model container (its replicas registered here)."""
        return bool(self.replicas) and any(r.id in self.replicas for r in variant.replicas)

    def loaded_counts(self) -> dict[VariantKey, list[int]]:
        out: dict[VariantKey, list[int]] = {}
        for rep in self.replicas.values():
            out.setdefault(rep.key, []).append(len(rep.loaded))
        return out

    def loaded_targets(self, replica_id: str) -> list[str]:
        """The TargetModel of each model a replica holds, least recently used first."""
        rep = self.replicas.get(replica_id)
        return [rep.targets.get(n, n) for n in rep.loaded] if rep else []

    # -- InvokeEndpoint ---------------------------------------------------------------------------------
    async def invoke(self, ctx: RequestContext, endpoint: str, variant: VariantRoute, request: dict[str, Any],
                     headers: list[tuple[str, str]], body: bytes, timeout: float) -> tuple[UpstreamResponse, float]:
        """(the container's response, seconds the model took). Raises AwsError."""
        target = request.get("TargetModel")
        if not self.serves(variant):
            if variant.replicas:
                raise errors.ValidationError(f"Endpoint {endpoint} is not a multi-model endpoint and does not "
                                             "support target model header.")
            raise no_instance(variant.name)
        if not target:
            raise errors.ValidationError(f"Request {ctx.request_id} is missing a target model header.")
        if not _TARGET.match(target):
            raise errors.ValidationError(f"1 validation error detected: Value '{target}' at 'targetModel' failed to "
                                         "satisfy constraint: Member must satisfy regular expression pattern: "
                                         "\\A\\S[\\p{Print}]*\\z")
        name = artifacts.model_name(target)
        tried: ReplicaTarget | None = None
        for attempt in (0, 1):
            replica = self._choose(variant, name, exclude=tried)
            if replica is None:
                raise no_instance(variant.name)
            rep = self.replicas[replica.id]
            try:
                return await self._invoke_on(replica, rep, target, name, headers, body, timeout)
            except UpstreamTimeout:
                raise timed_out(timeout) from None
            except UpstreamError as exc:
                if attempt == 1:
                    raise unavailable(variant.name, exc) from None
                tried = replica
        raise AssertionError("unreachable")

    def _choose(self, variant: VariantRoute, name: str, exclude: ReplicaTarget | None) -> ReplicaTarget | None:
        """A replica holding the model, the least busy; a hot model (HOT requests of it queued there) also
        spreads to an idle replica. Else power of two choices over all."""
        best: ReplicaTarget | None = None
        idle: ReplicaTarget | None = None
        for r in variant.replicas:
            rep = self.replicas.get(r.id)
            if r is exclude or rep is None:
                continue
            if name not in rep.loaded and name not in rep.loading:
                if r.inflight == 0:
                    idle = r
                continue
            if best is None or r.inflight < best.inflight:
                best = r
        if best is not None:
            if idle is not None and self.replicas[best.id].inflight.get(name, 0) >= HOT:
                return idle
            return best
        candidates = [r for r in variant.replicas if r.id in self.replicas and r is not exclude]
        if not candidates:
            return None
        return VariantRoute(variant.name, variant.weight, tuple(candidates)).pick()

    async def _invoke_on(self, replica: ReplicaTarget, rep: MultiModelReplica, target: str, name: str,
                         headers: list[tuple[str, str]], body: bytes, timeout: float) -> tuple[UpstreamResponse, float]:
        hit = name in rep.loaded
        replica.inflight += 1
        rep.inflight[name] = rep.inflight.get(name, 0) + 1
        try:
            for again in (False, True):
                if name in rep.loaded:
                    rep.loaded.move_to_end(name)
                    rep.loaded[name] = time.monotonic()
                else:
                    await self._await_load(replica, rep, target, name, timeout)
                if not again:
                    self.metrics.record_hit(rep.key, hit)  # requests that reach the model count
                t0 = time.perf_counter()
                response = await replica.client.request("POST", f"/models/{name}/invoke", headers, body,
                                                        timeout=timeout)
                took = time.perf_counter() - t0
                if response.status == 404 and b"ModelNotFoundException" in response.body and not again:
                    rep.loaded.pop(name, None)  # unloaded behind our back (or the container restarted it)
                    continue
                replica.served += 1
                return response, took
        finally:
            replica.inflight -= 1
            left = rep.inflight.get(name, 1) - 1
            if left:
                rep.inflight[name] = left
            else:
                rep.inflight.pop(name, None)
        raise AssertionError("unreachable")

    async def _await_load(self, replica: ReplicaTarget, rep: MultiModelReplica, target: str, name: str,
                          timeout: float) -> None:
        fut = rep.loading.get(name)
        if fut is None:
            fut = rep.loading[name] = asyncio.ensure_future(self._load(replica, rep, target, name))

            def done(f: asyncio.Future[None], name: str = name) -> None:
                if rep.loading.get(name) is f:
                    del rep.loading[name]
                if not f.cancelled():
                    f.exception()  # retrieved: a load nobody waits for any more logs nothing

            fut.add_done_callback(done)
        try:
            await asyncio.wait_for(asyncio.shield(fut), timeout)
        except TimeoutError:
            raise ModelNotReady(f"Model {target} is still being downloaded or loaded on the endpoint; retry the "
                                "request.") from None  # unverified wording

    async def _load(self, replica: ReplicaTarget, rep: MultiModelReplica, target: str, name: str) -> None:
        await self._download(rep, target, name)
        async with rep.lock:
            if name in rep.loaded:
                return
            url = f"{rep.container_models}/{name}/model"
            payload = json.dumps({"model_name": name, "url": url}).encode()
            hdrs = [("Content-Type", "application/json"), ("X-Amzn-SageMaker-Target-Model", target)]
            while True:
                t0 = time.perf_counter()
                response = await replica.client.request("POST", "/models", hdrs, payload, timeout=LOAD_TIMEOUT)
                if response.status in (200, 201, 409):
                    if response.status != 409:
                        self.metrics.record_time(rep.key, "ModelLoadingTime", (time.perf_counter() - t0) * 1e6)
                    rep.loaded[name] = time.monotonic()
                    rep.targets[name] = target
                    LOG.info("endpoint %s: model %s loaded on %s (%d loaded)", rep.key[2], target, rep.id,
                             len(rep.loaded))
                    return
                if response.status == 404 and not (rep.models_dir / name / "model").exists():
                    await self._download(rep, target, name)  # the disk copy went (cache disabled): fetch again
                    continue
                if response.status == 507:
                    victim = self._victim(rep, name)
                    if victim is not None:
                        await self._unload(replica, rep, victim)
                        continue
                raise _load_error(response, target)

    def _victim(self, rep: MultiModelReplica, loading: str) -> str | None:
        """The least recently used model, preferring one no request is waiting on."""
        idle = next((n for n in rep.loaded if n != loading and not rep.inflight.get(n)), None)
        return idle if idle is not None else next((n for n in rep.loaded if n != loading), None)

    async def _unload(self, replica: ReplicaTarget, rep: MultiModelReplica, name: str) -> None:
        t0 = time.perf_counter()
        response = await replica.client.request("DELETE", f"/models/{name}", [], b"", timeout=LOAD_TIMEOUT)
        rep.loaded.pop(name, None)
        target = rep.targets.pop(name, name)
        if response.status in (200, 204):
            self.metrics.record_time(rep.key, "ModelUnloadingTime", (time.perf_counter() - t0) * 1e6)
        LOG.info("endpoint %s: model %s unloaded from %s (least recently used)", rep.key[2], target, rep.id)
        if not rep.cache_enabled and not any(name in other.loaded for other in self.replicas.values()):
            await asyncio.to_thread(artifacts.remove, rep.models_dir / name)

    async def _download(self, rep: MultiModelReplica, target: str, name: str) -> None:
        dest = rep.models_dir / name
        if (dest / "model").is_dir():
            return
        fut = self._downloads.get(dest)
        if fut is None:
            fut = self._downloads[dest] = asyncio.ensure_future(self._fetch(rep, target, dest))
            fut.add_done_callback(lambda f: self._downloads.pop(dest, None))
        await asyncio.shield(fut)

    async def _fetch(self, rep: MultiModelReplica, target: str, dest: Path) -> None:
        t0 = time.perf_counter()
        try:
            await asyncio.to_thread(artifacts.fetch, self.objects, rep.prefix, target, dest)
        except artifacts.UnknownTargetModel as exc:
            raise errors.ValidationError(str(exc)) from None
        except artifacts.BadArtifact as exc:
            raise ModelError(str(exc), fields={"OriginalStatusCode": 500, "OriginalMessage": str(exc)}) from None
        self.metrics.record_time(rep.key, "ModelDownloadingTime", (time.perf_counter() - t0) * 1e6)


def _load_error(response: UpstreamResponse, target: str) -> errors.AwsError:
    text = response.body.decode("utf-8", "replace")
    with contextlib.suppress(ValueError, AttributeError):
        text = json.loads(text).get("message", text)
    kind = "server" if response.status >= 500 else "client"
    return ModelError(f'Received {kind} error ({response.status}) from primary with message "Failed to load model '
                      f'{target}: {text}"', fields={"OriginalStatusCode": response.status, "OriginalMessage": text})
