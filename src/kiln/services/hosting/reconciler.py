"""Converges every endpoint's replicas to its desired state, publishes routing tables, flushes
invocation metrics and captured data. One asyncio loop in the server process; it never dies (each
endpoint's failures are isolated and logged).

Per endpoint and tick:
* `Deleting`: unpublish, drain (in-flight requests finish), stop, flush capture, delete the row.
* otherwise, for every variant of the *target* deployment (the pending UpdateEndpoint config, else
  the current one) keep `desired_count` replicas alive: start missing ones, retire extras.
* when every target variant has its desired number of healthy replicas: publish the target's
  routes (new weights apply here), retire replicas of other generations (they leave the routing
  table first, then drain), and record `InService` with current = desired.
* a replica that will not start fails a `Creating` endpoint, rolls back an `UpdateEndpoint`
  (`InService` on the old config, FailureReason set), and is retried with backoff otherwise.
* a replica that exits while serving leaves the routing table at once and is replaced; requests
  go to the healthy ones meanwhile.
* a serverless variant (`serverless.py`) wants the replicas its demand asks for, possibly none: it is
  `InService` with zero replicas, a request raises its demand (and wakes this loop), an idle period
  brings it back to zero.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from kiln.core.errors import Conflict
from kiln.core.loop import ControlLoop
from kiln.execution.local.process import kill_orphans
from kiln.services.hosting.capture import CaptureSink, CaptureWriter
from kiln.services.hosting.metrics import InvocationMetrics, VariantKey
from kiln.services.hosting.models import Deployment, Endpoint, EndpointStatus
from kiln.services.hosting.multimodel import is_multimodel
from kiln.services.hosting.replicas import Replica, ReplicaLauncher, ReplicaSpec, ReplicaStartError, ReplicaState
from kiln.services.hosting.router import EndpointRoute, RouteKey, Router, VariantRoute
from kiln.services.hosting.serverless import ServerlessScaler
from kiln.services.hosting.service import HostingService

LOG = logging.getLogger(__name__)
S = EndpointStatus
R = ReplicaState


@dataclass(eq=False)
class ReplicaSet:
    generation: int
    variant: str
    replicas: list[Replica] = field(default_factory=list)
    start_failures: int = 0
    last_failure: str | None = None
    retry_at: float = 0.0

    def healthy(self) -> list[Replica]:
        return [r for r in self.replicas if r.state == R.HEALTHY]

    def alive(self) -> list[Replica]:
        return [r for r in self.replicas if r.alive]


@dataclass(eq=False)
class EndpointRuntime:
    key: RouteKey
    arn: str
    sets: dict[tuple[int, str], ReplicaSet] = field(default_factory=dict)
    serving: tuple[int, Deployment] | None = None  # generation + deployment whose routes are published
    publish_ok: bool = False  # False while Creating: nothing is routed before InService
    capture: CaptureSink | None = None
    capture_sig: str | None = None
    teardown: asyncio.Task[None] | None = None

    def replicas(self) -> list[Replica]:
        return [r for rs in self.sets.values() for r in rs.replicas]


@dataclass(slots=True)
class Timing:
    interval: float = 1.0
    metrics_flush: float = 10.0
    capture_flush: float = 5.0
    health: float = 5.0
    drain_timeout: float = 60.0
    stop_grace: float = 5.0
    max_backoff: float = 30.0
    full_scan: float = 5.0  # read every endpoint at least this often, even when nothing was notified


class HostingReconciler:
    def __init__(self, service: HostingService, launcher: ReplicaLauncher, router: Router,
                 metrics: InvocationMetrics, capture: CaptureWriter, metric_store: Any, owner: str | None = None,
                 timing: Timing | None = None, serverless: ServerlessScaler | None = None) -> None:
        self.service = service
        self.launcher = launcher
        self.router = router
        self.metrics = metrics
        self.capture = capture
        self.metric_store = metric_store
        self.owner = owner
        self.timing = timing or Timing()
        self.serverless = serverless or ServerlessScaler(self.notify)
        self.serverless.notify = self.notify
        self.runtimes: dict[str, EndpointRuntime] = {}
        self.by_key: dict[RouteKey, EndpointRuntime] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._control = ControlLoop("hosting-reconciler", self._step, self.timing.interval)
        self._last = {"metrics": time.monotonic(), "capture": time.monotonic(), "health": time.monotonic()}
        self._dirty = True  # set by notify(): the next tick reads every endpoint
        self._last_full = 0.0

    # -- lifecycle ----------------------------------------------------------------------------------
    def notify(self) -> None:
        """Thread-safe: run a tick now."""
        self._dirty = True
        self._control.notify()

    async def start(self) -> None:
        if self.owner:
            killed = await asyncio.to_thread(kill_orphans, self.owner)
            if killed:
                LOG.warning("killed %d orphaned model server(s) from a previous server", len(killed))
        self._control.start()

    async def stop(self) -> None:
        await self._control.stop()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.to_thread(self._flush_metrics, self.serverless.provisioned_metrics())
        await asyncio.to_thread(self.capture.flush)
        replicas = [r for rt in self.runtimes.values() for r in rt.replicas()]
        await asyncio.gather(*(self.launcher.stop(r, 2.0) for r in replicas), return_exceptions=True)
        for rt in self.runtimes.values():
            self.router.publish(rt.key, None)

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _step(self) -> None:
        await self.tick()
        await self._periodic()

    async def tick(self) -> None:
        now = time.monotonic()
        if not self._dirty and now - self._last_full < self.timing.full_scan and not self.serverless.due():
            return  # nothing was written and nothing happened: spare the database (and the GIL)
        self._dirty, self._last_full = False, now
        endpoints = await asyncio.to_thread(self.service.repo.list_endpoints)
        seen = set()
        for e in endpoints:
            seen.add(e.arn)
            try:
                await self._converge(e)
            except Conflict:
                self.notify()  # someone wrote the row meanwhile: look again
            except Exception:
                LOG.exception("reconciling endpoint %s failed", e.name)
        for arn, rt in list(self.runtimes.items()):
            if arn not in seen and rt.teardown is None:
                rt.teardown = self._spawn(self._teardown(rt, None), f"teardown:{arn}")

    # -- one endpoint -------------------------------------------------------------------------------
    def _runtime(self, e: Endpoint) -> EndpointRuntime:
        rt = self.runtimes.get(e.arn)
        if rt is None:
            key = (e.scope.account_id, e.scope.region, e.name)
            rt = self.runtimes[e.arn] = self.by_key[key] = EndpointRuntime(key, e.arn)
        return rt

    async def _converge(self, e: Endpoint) -> None:
        rt = self._runtime(e)
        if rt.teardown is not None:
            return
        if e.status == S.DELETING or (e.status == S.FAILED and rt.replicas()):
            rt.teardown = self._spawn(self._teardown(rt, e if e.status == S.DELETING else None), f"teardown:{e.arn}")
            return
        if e.status in (S.FAILED, S.OUT_OF_SERVICE):
            return
        for rs in rt.sets.values():
            rs.replicas = [r for r in rs.replicas if r.state not in (R.STOPPED, R.FAILED)]
        gen, target = e.target_generation, e.target
        failure = None
        probing = e.status == S.CREATING or e.pending is not None
        wants: dict[str, int] = {}
        for v in target.variants:
            rs = rt.sets.setdefault((gen, v.name), ReplicaSet(gen, v.name))
            alive = rs.alive()
            want = wants[v.name] = (v.desired_count if v.serverless is None else
                                    self.serverless.want(rt.key, v.name, v.serverless, probing=probing))
            if len(alive) < want and time.monotonic() >= rs.retry_at:
                if v.serverless is not None and not alive and not probing:
                    self.serverless.cold_start(rt.key, v.name)
                memory = int(v.serverless["MemorySizeInMB"]) if v.serverless is not None else None
                for _ in range(want - len(alive)):
                    self._start(rt, rs, ReplicaSpec(e.scope, e.name, v.name, gen, v.model_name,
                                                    target.models[v.model_name], v.instance_type,
                                                    float(v.startup_timeout), memory_mb=memory,
                                                    incarnation=repr(e.created_at)))
            elif len(alive) > want:
                extra = sorted(alive, key=lambda r: (r.state == R.HEALTHY, r.target.inflight if r.target else 0))
                for r in extra[:len(alive) - want]:
                    self._retire(rt, r)
            if v.serverless is not None and rs.start_failures and rs.last_failure and not rs.alive():
                self.serverless.failed(rt.key, v.name, rs.last_failure)  # the requests awaiting a cold start
            if rs.start_failures >= self._failure_limit(e):
                failure = rs.last_failure
        if failure is not None:
            await self._start_failed(e, rt, failure)
            return
        converged = all(len(rt.sets[(gen, v.name)].healthy()) == wants[v.name] for v in target.variants)
        if converged:
            rt.serving, rt.publish_ok = (gen, target), True
            for (g, name), rs in list(rt.sets.items()):
                if g != gen or target.variant(name) is None:
                    for r in rs.alive():
                        self._retire(rt, r)
            self._publish(rt)
            await self._record_in_service(e, gen)
        else:
            if e.status != S.CREATING:
                rt.serving, rt.publish_ok = (e.generation, e.current), True
            self._publish(rt)
            await self._record_counts(e, rt)

    _failure_limit_floor = 2  # a failure that retrying cannot fix counts this much (fails Creating at once)

    def _failure_limit(self, e: Endpoint) -> int:
        if e.status == S.CREATING or e.pending is not None:
            return 2
        return 3 if e.status == S.UPDATING else 1_000_000

    async def _start_failed(self, e: Endpoint, rt: EndpointRuntime, reason: str) -> None:
        LOG.warning("endpoint %s: replica start failed: %s", e.name, reason)
        gen = e.target_generation
        doomed = [r for (g, _), rs in rt.sets.items() if g == gen for r in rs.replicas]
        for rs in rt.sets.values():
            if rs.generation == gen:
                rs.start_failures = 0
        if e.status == S.CREATING:
            for r in rt.replicas():
                self._retire(rt, r, drain=False)
            for v in e.current.variants:
                v.status = []
            await asyncio.to_thread(self.service.advance, e, status=S.FAILED, failure_reason=reason)
            return
        for r in doomed:
            if e.pending is not None:
                self._retire(rt, r, drain=False)
        if e.pending is not None:  # UpdateEndpoint: roll back to the config that is serving
            await asyncio.to_thread(self.service.advance, e, status=S.IN_SERVICE, pending=None, failure_reason=reason)
            return
        for v in e.current.variants:  # a capacity change that cannot be met: keep what runs
            rs = rt.sets.get((gen, v.name))
            v.desired_count = len(rs.healthy()) if rs else v.current_count
            v.status = []
        await asyncio.to_thread(self.service.advance, e, status=S.IN_SERVICE, failure_reason=reason)

    async def _record_in_service(self, e: Endpoint, gen: int) -> None:
        target = e.target
        changed = e.status != S.IN_SERVICE or e.pending is not None or e.generation != gen
        for v in target.variants:
            if (v.current_count, v.current_weight) != (v.desired_count, v.desired_weight) or v.status:
                changed = True
                v.current_count, v.current_weight, v.status = v.desired_count, v.desired_weight, []
            if v.serverless is not None and v.current_serverless != v.serverless:
                changed, v.current_serverless = True, dict(v.serverless)
        if not changed:
            return
        status = S.IN_SERVICE if e.status in (S.CREATING, S.UPDATING, S.SYSTEM_UPDATING) else e.status
        LOG.info("endpoint %s is %s (generation %d)", e.name, status.value, gen)
        await asyncio.to_thread(self.service.advance, e, status=status, current=target, pending=None, generation=gen)

    async def _record_counts(self, e: Endpoint, rt: EndpointRuntime) -> None:
        changed = False
        for v in e.current.variants:
            rs = rt.sets.get((e.generation, v.name))
            healthy = len(rs.healthy()) if rs else 0
            if e.pending is None and healthy != v.current_count and v.serverless is None:
                v.current_count, changed = healthy, True
        if changed:
            await asyncio.to_thread(self.service.advance, e)

    # -- replicas -------------------------------------------------------------------------------------
    def _start(self, rt: EndpointRuntime, rs: ReplicaSet, spec: ReplicaSpec) -> None:
        replica = Replica(spec)
        rs.replicas.append(replica)
        self._spawn(self._launch(rt, rs, replica), f"replica:{replica.id}")

    async def _launch(self, rt: EndpointRuntime, rs: ReplicaSet, replica: Replica) -> None:
        try:
            target = await self.launcher.launch(replica)
        except asyncio.CancelledError:
            await self.launcher.stop(replica, 0)
            raise
        except Exception as exc:
            reason = str(exc) if isinstance(exc, ReplicaStartError) else f"InternalServerError: {exc}"
            if not isinstance(exc, ReplicaStartError):
                LOG.exception("launching a replica of %s failed", replica.spec.endpoint)
            replica.state, replica.failure = R.FAILED, reason
            rs.start_failures += 1 if getattr(exc, "retryable", True) else self._failure_limit_floor
            rs.last_failure = reason
            rs.retry_at = time.monotonic() + min(self.timing.max_backoff, 2.0 ** rs.start_failures)
            await self.launcher.stop(replica, 0)
            self.notify()
            return
        if replica.state != R.STARTING:  # retired while starting
            await self.launcher.stop(replica, 0)
            return
        replica.target, replica.state, replica.healthy_at = target, R.HEALTHY, time.monotonic()
        rs.start_failures = 0
        spec = replica.spec
        self.metrics.record_setup((spec.scope.account_id, spec.scope.region, spec.endpoint, spec.variant),
                                  (replica.healthy_at - replica.started) * 1e6)
        self._spawn(self._watch(rt, replica), f"watch:{replica.id}")
        self._publish(rt)
        self.notify()

    async def _watch(self, rt: EndpointRuntime, replica: Replica) -> None:
        code = await self.launcher.wait_exit(replica)
        if replica.state == R.HEALTHY:
            LOG.warning("replica %s of endpoint %s exited with code %s; replacing it", replica.id,
                        replica.spec.endpoint, code)
            replica.state, replica.failure = R.FAILED, f"exited with code {code}"
            self._publish(rt)
            await self.launcher.stop(replica, 0)
            self.notify()

    def _retire(self, rt: EndpointRuntime, replica: Replica, drain: bool = True) -> None:
        """Take the replica out of the routing table now; stop it once its requests are done."""
        if replica.state in (R.DRAINING, R.STOPPED, R.FAILED):
            return
        was_starting = replica.state == R.STARTING
        replica.state = R.DRAINING
        self._publish(rt)
        if not was_starting:  # a starting replica is stopped by its launch task
            self._spawn(self._drain(replica, drain), f"drain:{replica.id}")

    async def _drain(self, replica: Replica, drain: bool) -> None:
        deadline = time.monotonic() + (self.timing.drain_timeout if drain else 0)
        while replica.target is not None and replica.target.inflight > 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        await self.launcher.stop(replica, self.timing.stop_grace)
        replica.state = R.STOPPED

    async def _teardown(self, rt: EndpointRuntime, e: Endpoint | None) -> None:
        self.router.publish(rt.key, None)
        for r in rt.replicas():
            if r.state == R.STARTING:
                r.state = R.DRAINING
        drains = [self._drain(r, True) for r in rt.replicas() if r.state in (R.HEALTHY, R.DRAINING)]
        for r in rt.replicas():
            if r.state == R.HEALTHY:
                r.state = R.DRAINING
        await asyncio.gather(*drains, return_exceptions=True)
        if rt.capture is not None:
            await asyncio.to_thread(self.capture.flush, rt.arn)
            self.capture.sinks.pop(rt.arn, None)
        self.metrics.forget(*rt.key)
        self.serverless.forget(rt.key, f"Endpoint {rt.key[2]} is being deleted.")
        rt.sets.clear()
        if e is not None:
            await asyncio.to_thread(self.service.repo.delete_endpoint, e.scope, e.name)
            LOG.info("endpoint %s deleted", e.name)
        self.runtimes.pop(rt.arn, None)
        self.by_key.pop(rt.key, None)
        self.notify()

    # -- routes ---------------------------------------------------------------------------------------
    def _publish(self, rt: EndpointRuntime) -> None:
        if rt.serving is None or not rt.publish_ok:
            return
        gen, deployment = rt.serving
        variants = []
        for v in deployment.variants:
            rs = rt.sets.get((gen, v.name))
            replicas = tuple(r.target for r in rs.healthy() if r.target is not None) if rs else ()
            gate = None
            if v.serverless is not None:
                gate = self.serverless.gate(rt.key, v.name, v.serverless)
            else:
                self.serverless.drop(rt.key, v.name)  # no longer serverless (UpdateEndpoint)
            variants.append(VariantRoute(v.name, v.desired_weight, replicas, serverless=gate,
                                         multimodel=is_multimodel(deployment.models[v.model_name])))
        capture = self._capture_sink(rt, deployment)
        self.router.publish(rt.key, EndpointRoute.build(
            rt.key[2], variants, capture=capture, asynchronous=bool(deployment.config.get("AsyncInferenceConfig"))))
        for route in variants:
            if route.serverless is not None:
                route.serverless.published(route)

    def _capture_sink(self, rt: EndpointRuntime, deployment: Deployment) -> CaptureSink | None:
        cfg = deployment.data_capture
        sig = repr(cfg)
        if sig != rt.capture_sig:
            if rt.capture is not None:
                self._spawn(asyncio.to_thread(self.capture.flush, rt.arn), f"capture-flush:{rt.arn}")
            rt.capture = CaptureSink(rt.key[2], cfg, rt.key[0], rt.key[1]) if cfg else None
            rt.capture_sig = sig
            if rt.capture is not None:
                self.capture.sinks[rt.arn] = rt.capture
        return rt.capture

    def healthy_count(self, key: VariantKey) -> int:
        rt = self.by_key.get(key[:3])
        if rt is None or rt.serving is None:
            return 0
        rs = rt.sets.get((rt.serving[0], key[3]))
        return len(rs.healthy()) if rs else 0

    def gauges(self) -> dict[VariantKey, dict[str, float]]:
        out: dict[VariantKey, dict[str, float]] = {}
        for rt in self.runtimes.values():
            if rt.serving is None:
                continue
            for v in rt.serving[1].variants:
                rs = rt.sets.get((rt.serving[0], v.name))
                healthy = rs.healthy() if rs else []
                out[(*rt.key, v.name)] = {"instances": len(healthy), "weight": v.desired_weight,
                                          "inflight": sum(r.target.inflight for r in healthy if r.target),
                                          **self.serverless.gauges(rt.key, v.name)}
        return out

    # -- periodic work ----------------------------------------------------------------------------------
    async def _periodic(self) -> None:
        now = time.monotonic()
        if now - self._last["metrics"] >= self.timing.metrics_flush:
            self._last["metrics"] = now
            provisioned = self.serverless.provisioned_metrics()  # on the loop, where the gates change
            await asyncio.to_thread(self._flush_metrics, provisioned)
        if now - self._last["capture"] >= self.timing.capture_flush:
            self._last["capture"] = now
            self._spawn(asyncio.to_thread(self.capture.flush), "capture-flush")
        if now - self._last["health"] >= self.timing.health:
            self._last["health"] = now
            await self._health_checks()

    def _flush_metrics(self, extra: dict[Any, list[Any]]) -> None:
        if self.metric_store is None:
            return
        batches = self.metrics.flush(self.healthy_count)
        for scope, data in extra.items():
            batches.setdefault(scope, []).extend(data)
        for scope, data in batches.items():
            try:
                self.metric_store.put(scope, data)
            except Exception:
                LOG.exception("writing endpoint metrics failed")

    async def _health_checks(self) -> None:
        idle = [(rt, r) for rt in self.runtimes.values() for r in rt.replicas()
                if r.state == R.HEALTHY and r.target is not None and r.target.inflight == 0]
        results = await asyncio.gather(*(self.launcher.check(r) for _, r in idle), return_exceptions=True)
        for (rt, r), ok in zip(idle, results, strict=True):
            if ok is True:
                r.ping_failures = 0
                continue
            r.ping_failures += 1
            if r.ping_failures >= 3 and r.state == R.HEALTHY:
                LOG.warning("replica %s of endpoint %s failed 3 health checks; replacing it", r.id, r.spec.endpoint)
                r.state, r.failure = R.FAILED, "failed health checks"
                self._publish(rt)
                self._spawn(self.launcher.stop(r, 0), f"stop:{r.id}")
                self.notify()
