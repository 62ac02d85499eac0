"""Serverless inference: production variants with a `ServerlessConfig` instead of instances.

What Kiln does, and what it enforces:

* **Validation** (CreateEndpointConfig): `MemorySizeInMB` in 1 GB steps from 1024 to 6144,
  `MaxConcurrency` 1..200, `ProvisionedConcurrency` 1..200 and at most `MaxConcurrency` (botocore's
  model checks the ranges; the steps and the cross-field rule are checked here), no `InstanceType` or
  `InitialInstanceCount` next to it.
* **Scale to zero.** After CreateEndpoint one replica is started to prove the model loads (a broken
  model fails the endpoint, as an instance variant does; the artifact is cached for the cold starts
  to come), then the endpoint is `InService` and holds no replica, unless `ProvisionedConcurrency`
  keeps `ceil(ProvisionedConcurrency / replica concurrency)` replicas warm.
* **Cold start.** A request that finds no replica raises the variant's *demand* (`ServerlessGate`,
  on the data path): the reconciler starts a replica, the request awaits it (within the 60 s
  invocation timeout, else `ModelNotReadyException`) and is answered. The replica's start-to-healthy
  time is published as `ModelSetupTime`.
* **Warm while traffic continues, back to zero when idle.** Replicas stay while requests keep coming;
  `KILN_HOSTING_SERVERLESS_IDLE_SECONDS` (default 300) after the last request ends the variant goes
  back to its provisioned replicas (zero by default). More replicas start while the requests in flight
  exceed `KILN_HOSTING_SERVERLESS_REPLICA_CONCURRENCY` (default 4) per replica, up to
  `KILN_HOSTING_SERVERLESS_MAX_REPLICAS` (default 4) per variant; a model server answers one request
  at a time, the others wait at it.
* **MaxConcurrency.** A request beyond `MaxConcurrency` requests in flight (cold-start waits
  included) is answered `ThrottlingException` at once, as the service does.
* **Memory.** The replica runs under `RLIMIT_DATA = MemorySizeInMB` (heap and private writable
  mappings: what the model allocates; code and shared libraries are not counted). An allocation
  beyond it fails (Python raises `MemoryError`, the invocation answers `ModelError`); no cgroup is
  needed.
* **Payload 4 MB** (the service's serverless limit, against 6 MB for instances), **60 s** per
  invocation, cold start included.
* **Provisioned concurrency metrics** (variants with `ProvisionedConcurrency`), flushed with the
  endpoint metrics: `ServerlessProvisionedConcurrencyUtilization` (the time-weighted mean of the
  requests in flight that provisioned capacity serves, divided by `ProvisionedConcurrency`, over the
  flush window), `ServerlessProvisionedConcurrencyExecutions` (the most such requests at once),
  `ServerlessProvisionedConcurrencyInvocations` and `...SpilloverInvocations` (requests admitted
  within, and beyond, the provisioned concurrency). Application Auto Scaling tracks the first
  (`SageMakerVariantProvisionedConcurrencyUtilization`) and sets the concurrency through
  `UpdateEndpointWeightsAndCapacities`' `ServerlessUpdateConfig`.
* **Cost**: compute is counted as GB-seconds (memory size x model time of each invocation, as the
  service bills it), with cold starts and throttles, in the Prometheus gauges of the variant.

Nothing here imports the wire layer: the runtime turns `Throttled` and `NotReady` into AWS errors.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kiln.core.errors import InvalidInput
from kiln.core.scope import Scope
from kiln.services.hosting.models import Model
from kiln.services.hosting.router import RouteKey, VariantRoute
from kiln.services.metrics.models import Datum

NAMESPACE = "AWS/SageMaker"

MEMORY_SIZES = (1024, 2048, 3072, 4096, 5120, 6144)
MAX_PAYLOAD = 4 * 1024 * 1024

# A tiny exec shim: set the memory limit, then become the model server (any Python runs it).
_SHIM = ("import os, resource, sys; n = int(sys.argv[1]); resource.setrlimit(resource.RLIMIT_DATA, (n, n)); "
         "os.execvp(sys.argv[2], sys.argv[2:])")


class Throttled(Exception):
    """More requests in flight than the variant's MaxConcurrency."""


class NotReady(Exception):
    """No replica came up for the request in time (or its start failed)."""


def validate_variant(index: int, pv: dict[str, Any]) -> None:
    """The rules botocore's ranges do not express. `index` is 1-based (AWS's member paths)."""
    cfg = pv.get("ServerlessConfig")
    if not cfg:
        return
    where = f"productionVariants.{index}.member.serverlessConfig"
    memory = int(cfg["MemorySizeInMB"])
    if memory not in MEMORY_SIZES:
        raise InvalidInput(f"1 validation error detected: Value '{memory}' at '{where}.memorySizeInMB' failed to "
                           f"satisfy constraint: Member must be one of {', '.join(map(str, MEMORY_SIZES))} "
                           "(1 GB steps)")  # unverified: AWS's wording for a value between the steps
    provisioned = cfg.get("ProvisionedConcurrency")
    if provisioned is not None and int(provisioned) > int(cfg["MaxConcurrency"]):
        raise InvalidInput(f"ProvisionedConcurrency ({provisioned}) of variant {pv['VariantName']} must be less "
                           f"than or equal to MaxConcurrency ({cfg['MaxConcurrency']}).")  # unverified
    if pv.get("InstanceType") or pv.get("InitialInstanceCount"):
        raise InvalidInput(f"Variant {pv['VariantName']} specifies ServerlessConfig together with InstanceType "
                           "or InitialInstanceCount; a variant is either serverless or instance-based.")  # unverified


def validate_config(spec: dict[str, Any], models: dict[str, Model]) -> None:
    """AWS's serverless feature exclusions, checked at CreateEndpointConfig: one production variant,
    no data capture, and a model that is one container, not multi-model, with no VPC and no network
    isolation. `models`: the variants' models by name."""
    variants = spec.get("ProductionVariants") or []
    if not any(pv.get("ServerlessConfig") for pv in variants):
        return
    if len(variants) > 1:
        raise InvalidInput("A serverless endpoint configuration has one production variant; this one has "
                           f"{len(variants)}.")  # unverified
    if spec.get("DataCaptureConfig"):
        raise InvalidInput("DataCaptureConfig is not supported for serverless endpoints.")  # unverified
    model = models.get(variants[0].get("ModelName") or "")
    containers = model.containers if model is not None else []
    if len(containers) > 1:
        raise InvalidInput("Serverless endpoints do not support inference pipelines (models with more than one "
                           "container).")  # unverified
    if any(c.get("Mode") == "MultiModel" for c in containers):
        raise InvalidInput("Serverless endpoints do not support multi-model endpoints (a model with Mode "
                           "MultiModel).")  # unverified
    if model is not None and (model.spec.get("VpcConfig") or model.spec.get("EnableNetworkIsolation")):
        raise InvalidInput("Serverless endpoints do not support VpcConfig or network isolation on the "
                           "model.")  # unverified


def check_update(current_serverless: bool, next_serverless: bool, endpoint: str) -> None:
    """AWS converts a serverless endpoint to instances, never an instance-based one to serverless."""
    if next_serverless and not current_serverless:
        raise InvalidInput(f"Endpoint {endpoint} is instance-based: it cannot be updated to a serverless "
                           "endpoint configuration.")  # unverified


def memory_limited(argv: list[str], python: str, memory_mb: int) -> list[str]:
    """`argv` run under RLIMIT_DATA = memory_mb (inherited by everything it starts)."""
    return [python, "-c", _SHIM, str(memory_mb * 1024 * 1024), *argv]


@dataclass(eq=False)
class ServerlessGate:
    """One serverless variant as the request path sees it: admission against MaxConcurrency, demand
    for replicas, and the wait for one. Lives as long as the endpoint; every route the reconciler
    publishes for the variant points at it. Everything runs on the server's event loop."""

    endpoint: str
    variant: str
    memory_mb: int
    max_concurrency: int
    provisioned: int
    on_demand: Callable[[], None]
    per_replica: int = 4
    inflight: int = 0
    peak: int = 0  # the most requests in flight lately (decays after an idle period)
    peak_at: float = 0.0
    last_active: float = -math.inf  # monotonic time of the last admission or completion
    route: VariantRoute | None = None
    closed: str | None = None
    # totals since the server started
    invocations: int = 0
    cold_starts: int = 0
    throttled: int = 0
    gb_seconds: float = 0.0
    # provisioned concurrency, since the last metrics window: requests within it and beyond it, the
    # integral of the requests it served over time, the most at once
    pc_invocations: int = 0
    pc_spillover: int = 0
    pc_peak: int = 0
    _pc_busy: float = 0.0
    _pc_mark: float = field(default_factory=time.monotonic)
    _pc_window: float = field(default_factory=time.monotonic)
    _waiters: list[asyncio.Future[None]] = field(default_factory=list)

    def configure(self, cfg: dict[str, Any]) -> None:
        self._pc_account(time.monotonic())  # the window so far counts against the old concurrency
        self.memory_mb = int(cfg["MemorySizeInMB"])
        self.max_concurrency = int(cfg["MaxConcurrency"])
        self.provisioned = int(cfg.get("ProvisionedConcurrency") or 0)

    @property
    def healthy(self) -> int:
        return len(self.route.replicas) if self.route is not None else 0

    def admit(self) -> None:
        """Count a request in, or raise Throttled. Raises demand when the replicas cannot take it."""
        if self.inflight >= self.max_concurrency:
            self.throttled += 1
            raise Throttled(f"Endpoint {self.endpoint} variant {self.variant} is at its MaxConcurrency of "
                            f"{self.max_concurrency} concurrent invocations.")
        now = time.monotonic()
        self._pc_account(now)
        self.inflight += 1
        self.invocations += 1
        self.last_active = now
        if self.inflight >= self.peak:
            self.peak, self.peak_at = self.inflight, now
        if self.provisioned:
            if self.inflight <= self.provisioned:
                self.pc_invocations += 1
                self.pc_peak = max(self.pc_peak, self.inflight)
            else:
                self.pc_spillover += 1
        if self.healthy * self.per_replica < self.inflight:
            self.on_demand()

    def leave(self, compute_seconds: float) -> None:
        now = time.monotonic()
        self._pc_account(now)
        self.inflight -= 1
        self.last_active = now
        self.gb_seconds += self.memory_mb / 1024 * compute_seconds

    def _pc_account(self, now: float) -> None:
        self._pc_busy += min(self.inflight, self.provisioned) * (now - self._pc_mark)
        self._pc_mark = now

    def take_provisioned_window(self) -> dict[str, float] | None:
        """The provisioned-concurrency figures since the last call (None without provisioned concurrency)."""
        now = time.monotonic()
        self._pc_account(now)
        elapsed, provisioned = now - self._pc_window, self.provisioned
        out = None
        if provisioned and elapsed > 0:
            out = {"ServerlessProvisionedConcurrencyUtilization": min(1.0, self._pc_busy / (provisioned * elapsed)),
                   "ServerlessProvisionedConcurrencyExecutions": float(max(self.pc_peak,
                                                                           min(self.inflight, provisioned))),
                   "ServerlessProvisionedConcurrencyInvocations": float(self.pc_invocations),
                   "ServerlessProvisionedConcurrencySpilloverInvocations": float(self.pc_spillover)}
        self._pc_busy, self._pc_window, self.pc_peak = 0.0, now, 0
        self.pc_invocations = self.pc_spillover = 0
        return out

    async def ready(self, deadline: float) -> VariantRoute:
        """The variant's route once it has a healthy replica; NotReady at `deadline` (monotonic)."""
        while self.route is None or not self.route.replicas:
            if self.closed is not None:
                raise NotReady(self.closed)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise NotReady(f"No instance of serverless variant {self.variant} became ready within the "
                               "invocation timeout; try again.")
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await asyncio.wait_for(waiter, remaining)
            except TimeoutError:
                continue
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
        return self.route

    def _wake(self, error: BaseException | None = None) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                if error is None:
                    waiter.set_result(None)
                else:
                    waiter.set_exception(error)

    def published(self, route: VariantRoute) -> None:
        self.route = route
        if route.replicas:
            self._wake()

    def fail(self, reason: str) -> None:
        """A replica start failed: the requests waiting now get the reason (later ones trigger a retry)."""
        if self._waiters:
            self._wake(NotReady(reason))

    def close(self, reason: str) -> None:
        self.closed = reason
        self.route = None
        self._wake(NotReady(reason))


class ServerlessScaler:
    """The reconciler's side: how many replicas each serverless variant wants now, and the gates."""

    def __init__(self, notify: Callable[[], None], idle_seconds: float = 300.0, replica_concurrency: int = 4,
                 max_replicas: int = 4) -> None:
        self.notify = notify
        self.idle_seconds = idle_seconds
        self.replica_concurrency = max(1, replica_concurrency)
        self.max_replicas = max(1, max_replicas)
        self.gates: dict[tuple[RouteKey, str], ServerlessGate] = {}

    def gate(self, key: RouteKey, variant: str, cfg: dict[str, Any]) -> ServerlessGate:
        g = self.gates.get((key, variant))
        if g is None:
            g = self.gates[(key, variant)] = ServerlessGate(key[2], variant, 0, 0, 0, self.notify,
                                                            per_replica=self.replica_concurrency)
        g.configure(cfg)
        return g

    def _cap(self, g: ServerlessGate) -> int:
        return min(self.max_replicas, math.ceil(g.max_concurrency / self.replica_concurrency))

    def _warm(self, g: ServerlessGate) -> int:
        return min(self._cap(g), math.ceil(g.provisioned / self.replica_concurrency))

    def want(self, key: RouteKey, variant: str, cfg: dict[str, Any], *, probing: bool) -> int:
        """Replicas the variant should have now. `probing`: the endpoint is being created or updated
        (one replica proves the model loads)."""
        g = self.gate(key, variant, cfg)
        warm = self._warm(g)
        if probing:
            return max(warm, 1)
        now = time.monotonic()
        if now - g.peak_at >= self.idle_seconds:
            g.peak, g.peak_at = g.inflight, now
        if g.inflight == 0 and now - g.last_active >= self.idle_seconds:
            return warm
        return max(warm, min(self._cap(g), max(1, math.ceil(max(g.peak, g.inflight) / self.replica_concurrency))))

    def cold_start(self, key: RouteKey, variant: str) -> None:
        g = self.gates.get((key, variant))
        if g is not None:
            g.cold_starts += 1

    def due(self) -> bool:
        """True when a variant holds replicas it no longer wants (its idle period ran out)."""
        now = time.monotonic()
        return any(g.inflight == 0 and g.healthy > self._warm(g) and now - g.last_active >= self.idle_seconds
                   for g in self.gates.values())

    def drop(self, key: RouteKey, variant: str) -> None:
        """The variant is no longer serverless (UpdateEndpoint): forget its gate."""
        g = self.gates.pop((key, variant), None)
        if g is not None:
            g.close(f"Variant {variant} of endpoint {key[2]} is no longer serverless; try again.")

    def failed(self, key: RouteKey, variant: str, reason: str) -> None:
        g = self.gates.get((key, variant))
        if g is not None:
            g.fail(reason)

    def forget(self, key: RouteKey, reason: str) -> None:
        for gate_key in [k for k in self.gates if k[0] == key]:
            self.gates.pop(gate_key).close(reason)

    def provisioned_metrics(self) -> dict[Scope, list[Any]]:
        """CloudWatch data for the provisioned concurrency of every serverless variant that has one,
        since the last call (`AWS/SageMaker`, EndpointName + VariantName). Call on the event loop."""
        now = time.time()
        out: dict[Scope, list[Any]] = {}
        for (key, variant), g in self.gates.items():
            figures = g.take_provisioned_window()
            if figures is None:
                continue
            dims = (("EndpointName", key[2]), ("VariantName", variant))
            out.setdefault(Scope(key[0], key[1]), []).extend(
                Datum(NAMESPACE, name, dims, now, value, "None" if name.endswith("Utilization") else "Count")
                for name, value in figures.items())
        return out

    def gauges(self, key: RouteKey, variant: str) -> dict[str, float]:
        g = self.gates.get((key, variant))
        if g is None:
            return {}
        return {"serverless_inflight": g.inflight, "serverless_cold_starts_total": g.cold_starts,
                "serverless_throttled_total": g.throttled, "serverless_gb_seconds_total": round(g.gb_seconds, 6),
                "serverless_memory_mb": g.memory_mb, "serverless_provisioned_concurrency": g.provisioned}
