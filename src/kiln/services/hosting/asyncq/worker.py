"""The async-inference workers: one loop on the server's event loop that hands queued requests to
the endpoints' replicas, at most `MaxConcurrentInvocationsPerInstance` at a time per replica.

Per request: read the input (the S3 object, or the inline body), `POST /invocations` on the least
busy replica of the endpoint's routing table (the same table and connections InvokeEndpoint uses;
its in-flight count is raised, so draining and power-of-two choices see the work), wait up to
InvocationTimeoutSeconds, write `<S3OutputPath>/<id>.out` with the model's content type (or, on a
model error, `<S3FailurePath>/<id>-error.out`), record the end, then publish the notification.

The loop also expires requests past their RequestTTLSeconds, and publishes the backlog metrics
(`AWS/SageMaker`, dimension `EndpointName`): ApproximateBacklogSize, ApproximateBacklogSizePerInstance
(the backlog itself while no instance runs), ApproximateAgeOfOldestRequest, HasBacklogWithoutCapacity:
every `metrics_every` seconds while an endpoint has a backlog and for ACTIVE_SECONDS after, at once
when a backlog appears, and once a minute for an idle endpoint (so scale-in still sees zeros).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Callable
from typing import Any

from kiln.core.errors import DomainError, NotFound
from kiln.core.loop import ControlLoop
from kiln.core.scope import Scope
from kiln.services.hosting.asyncq import notify
from kiln.services.hosting.asyncq.config import AsyncSettings, of_endpoint_config
from kiln.services.hosting.asyncq.store import AsyncQueue, AsyncRequest, EndpointKey, RequestStatus
from kiln.services.hosting.metrics import NAMESPACE
from kiln.services.hosting.router import ReplicaTarget, Router
from kiln.services.hosting.upstream import UpstreamError, UpstreamResponse, UpstreamTimeout
from kiln.services.metrics.models import Datum
from kiln.services.s3.uris import parse_uri

LOG = logging.getLogger(__name__)
S = RequestStatus
MAX_ATTEMPTS = 5  # a request whose replica vanished this many times fails
RETRY_DELAY = 1.0  # before a request whose replica vanished goes back to the queue
LIVE = ("InService", "Updating", "SystemUpdating", "RollingBack")
ACTIVE_SECONDS = 120.0
IDLE_EVERY = 60.0


class AsyncDispatcher:
    def __init__(self, queue: AsyncQueue, objects: Any, hosting: Any, router: Router, metric_store: Any,
                 sns: Any, invocation_metrics: Any = None, *, poll: float = 1.0, metrics_every: float = 10.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.queue = queue
        self.objects = objects
        self.hosting = hosting  # HostingService
        self.router = router
        self.metric_store = metric_store
        self.sns = sns
        self.invocation_metrics = invocation_metrics
        self.poll = poll
        self.metrics_every = metrics_every
        self.clock = clock
        self.inflight: dict[str, int] = {}  # replica id -> async requests it is answering
        self.max_seen: dict[str, int] = {}  # replica id -> most async requests it held at once
        self._settings: dict[EndpointKey, tuple[float, AsyncSettings | None, str | None]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._control = ControlLoop("hosting-async", self.tick, poll)
        self._last = {"metrics": 0.0, "expiry": 0.0}
        self._active_until: dict[EndpointKey, float] = {}  # monotonic: publish often until then
        self._published: dict[EndpointKey, float] = {}  # monotonic: last publication

    # -- lifecycle ----------------------------------------------------------------------------------
    def notify(self) -> None:
        """Thread-safe: look at the queue now."""
        self._control.notify()

    async def start(self) -> None:
        await asyncio.to_thread(self.recover)
        self._control.start()

    async def stop(self) -> None:
        await self._control.stop()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def recover(self) -> None:
        """After a crash: finish InProgress rows whose answer was written, requeue the others, and send
        the notifications that were not sent."""
        for r in self.queue.in_progress():
            found = self._written(r)
            if found is None:
                self.queue.release(r.id)
                LOG.info("async inference %s of %s requeued after a restart", r.inference_id, r.endpoint)
                continue
            status, content_type = found
            self.queue.finish(r.id, status, self.clock(), content_type=content_type,
                              failure_reason=None if status == S.COMPLETED else "The model returned an error.")
        for r in self.queue.unnotified():
            notify.publish(self.sns, r, self._stored_answer(r))
            self.queue.mark_notified(r.id)

    def _stored_answer(self, r: AsyncRequest) -> bytes | None:
        """The answer written for `r`, when its notification is to include it (and it is small enough)."""
        uri = r.output_location if r.status == S.COMPLETED else r.failure_location
        if not uri or not notify.wants_response(r):
            return None
        bucket, key = parse_uri(uri)
        try:
            if self.objects.head(bucket, key).size > notify.MAX_INCLUDED:
                return None
            return bytes(self.objects.read_bytes(bucket, key))
        except NotFound:
            return None

    def _written(self, r: AsyncRequest) -> tuple[RequestStatus, str | None] | None:
        for status, uri in ((S.COMPLETED, r.output_location), (S.FAILED, r.failure_location)):
            if not uri:
                continue
            bucket, key = parse_uri(uri)
            try:
                info = self.objects.head(bucket, key)
            except NotFound:
                continue
            if r.claimed_at is not None and info.last_modified.timestamp() >= r.claimed_at - 1.0:
                return status, info.content_type
        return None

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def tick(self) -> None:
        now = time.monotonic()
        if now - self._last["expiry"] >= 1.0:
            self._last["expiry"] = now
            await asyncio.to_thread(self._expire)
        waiting = await asyncio.to_thread(self.queue.waiting_endpoints)
        if any(self._active_until.get(key, 0.0) <= now for key in waiting):
            self._last["metrics"] = 0.0  # a backlog appeared: the scaling policies should know now
        for key in waiting:
            try:
                await self._dispatch(key)
            except Exception:
                LOG.exception("dispatching async requests of %s failed", key[2])
        if now - self._last["metrics"] >= self.metrics_every:
            self._last["metrics"] = now
            await asyncio.to_thread(self.publish_metrics)

    # -- dispatch -------------------------------------------------------------------------------------
    def settings(self, key: EndpointKey) -> tuple[AsyncSettings | None, str | None]:
        """The endpoint's async settings (cached 2 s) and its status (None: no such endpoint)."""
        cached = self._settings.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1], cached[2]
        e = self.hosting.repo.get_endpoint(Scope(key[0], key[1]), key[2])
        found = (of_endpoint_config(e.current.config), e.status.value) if e is not None else (None, None)
        self._settings[key] = (time.monotonic() + 2.0, *found)
        return found

    def replicas(self, key: EndpointKey) -> list[ReplicaTarget]:
        route = self.router.get(key)
        if route is None:
            return []
        return [r for v in route.variants.values() if v.weight > 0 for r in v.replicas]

    async def _dispatch(self, key: EndpointKey) -> None:
        settings, status = await asyncio.to_thread(self.settings, key)
        if status is None or settings is None:
            await asyncio.to_thread(self._fail_all, key, f"Endpoint {key[2]} does not exist any more." if status
                                    is None else f"Endpoint {key[2]} is not an asynchronous inference endpoint.")
            return
        if status not in LIVE:
            return
        replicas = self.replicas(key)
        free = sum(max(0, settings.max_concurrency - self.inflight.get(r.id, 0)) for r in replicas)
        if free <= 0:
            return
        for r in await asyncio.to_thread(self.queue.claim, key, free, self.clock()):
            replica = self._pick(replicas, settings.max_concurrency)
            if replica is None:  # cannot happen: claims never exceed the free slots
                await asyncio.to_thread(self.queue.release, r.id)
                continue
            n = self.inflight[replica.id] = self.inflight.get(replica.id, 0) + 1
            self.max_seen[replica.id] = max(self.max_seen.get(replica.id, 0), n)
            self._spawn(self._process(r, replica), f"async:{r.id}")

    def _pick(self, replicas: list[ReplicaTarget], limit: int) -> ReplicaTarget | None:
        open_ = [r for r in replicas if self.inflight.get(r.id, 0) < limit]
        if not open_:
            return None
        least = min(self.inflight.get(r.id, 0) for r in open_)
        return random.choice([r for r in open_ if self.inflight.get(r.id, 0) == least])

    async def _process(self, r: AsyncRequest, replica: ReplicaTarget) -> None:
        try:
            try:
                body, content_type = await asyncio.to_thread(self._input, r)
            except DomainError as exc:
                await asyncio.to_thread(self._failed, r, f"ClientError: Could not read the input from "
                                        f"{r.input_location}: {exc.message}", None, None)  # unverified
                return
            r.content_type = content_type
            try:
                response, model_s = await self._invoke(r, replica, body, content_type)
            except UpstreamTimeout:
                await asyncio.to_thread(self._failed, r, f"ModelError: the model did not answer within "
                                        f"InvocationTimeoutSeconds ({r.timeout_seconds} s).", None, None)
                return
            except UpstreamError as exc:  # the reconciler replaces the replica meanwhile
                await self._retry_or_fail(r, f"InternalFailure: the instance serving the request went away "
                                          f"{r.attempts} times ({exc}).")
                return
            self._record(r, replica, model_s, response.status)
            await asyncio.to_thread(self._answered, r, response)
        except Exception as exc:  # Kiln's bug: logged; the request is retried a few times, then failed
            LOG.exception("async inference %s of %s failed", r.inference_id, r.endpoint)
            await self._retry_or_fail(r, f"InternalFailure: {type(exc).__name__}")
        finally:
            left = self.inflight.get(replica.id, 1) - 1
            if left > 0:
                self.inflight[replica.id] = left
            else:
                self.inflight.pop(replica.id, None)
            self.notify()

    async def _retry_or_fail(self, r: AsyncRequest, reason: str) -> None:
        """After RETRY_DELAY: back to the queue, or Failed with `reason` once MAX_ATTEMPTS were spent."""
        await asyncio.sleep(RETRY_DELAY)
        if r.attempts >= MAX_ATTEMPTS:
            await asyncio.to_thread(self._failed, r, reason, None, None)
        else:
            await asyncio.to_thread(self.queue.release, r.id)

    def _input(self, r: AsyncRequest) -> tuple[bytes, str]:
        if r.body is not None or not r.input_location:
            return r.body or b"", r.content_type or "application/octet-stream"
        bucket, key = parse_uri(r.input_location)
        info = self.objects.head(bucket, key)
        data = self.objects.read_bytes(bucket, key)
        return data, r.content_type or info.content_type or "application/octet-stream"

    async def _invoke(self, r: AsyncRequest, replica: ReplicaTarget, body: bytes,
                      content_type: str) -> tuple[UpstreamResponse, float]:
        headers = [("Content-Type", content_type), ("X-Amzn-SageMaker-Inference-Id", r.inference_id)]
        if r.accept:
            headers.append(("Accept", r.accept))
        if r.custom_attributes:
            headers.append(("X-Amzn-SageMaker-Custom-Attributes", r.custom_attributes))
        replica.inflight += 1
        t0 = time.perf_counter()
        try:
            response = await replica.client.request("POST", "/invocations", headers, body,
                                                    timeout=float(r.timeout_seconds))
            replica.served += 1
            return response, time.perf_counter() - t0
        finally:
            replica.inflight -= 1

    def _record(self, r: AsyncRequest, replica: ReplicaTarget, model_s: float, status: int) -> None:
        if self.invocation_metrics is not None:
            self.invocation_metrics.record((*r.key, replica.variant), model_s * 1e6, 0.0, status)

    # -- answers --------------------------------------------------------------------------------------
    def _answered(self, r: AsyncRequest, response: UpstreamResponse) -> None:
        content_type = response.headers.get(b"content-type", b"application/octet-stream").decode("latin-1")
        if response.status >= 400:
            text = response.body.decode("utf-8", "replace")
            kind = "server" if response.status >= 500 else "client"
            reason = (f'ClientError: Received {kind} error ({response.status}) from model with message "{text}". '
                      "See the endpoint's CloudWatch logs for more information.")  # unverified
            self._failed(r, reason, response.body, content_type)
            return
        bucket, key = parse_uri(r.output_location)
        try:
            self.objects.put_bytes(bucket, key, response.body, content_type)
        except DomainError as exc:
            self._failed(r, f"ClientError: Could not write the output to {r.output_location}: {exc.message}",
                         None, None)
            return
        now = self.clock()
        if self.queue.finish(r.id, S.COMPLETED, now, content_type=content_type):
            r.status, r.finished_at, r.output_content_type = S.COMPLETED, now, content_type
            self._notify(r, response.body)

    def _failed(self, r: AsyncRequest, reason: str, body: bytes | None, content_type: str | None,
                expected: RequestStatus = S.IN_PROGRESS) -> None:
        """Write the failure object (the model's error body, else a JSON error), record, notify."""
        written = None
        if r.failure_location:
            bucket, key = parse_uri(r.failure_location)
            if body is None:
                body, content_type = json.dumps({"ErrorCode": reason.split(":", 1)[0],
                                                 "Message": reason}).encode(), "application/json"
            try:
                self.objects.put_bytes(bucket, key, body, content_type)
                written = content_type
            except DomainError as exc:
                LOG.warning("async inference %s: cannot write %s: %s", r.inference_id, r.failure_location,
                            exc.message)
        now = self.clock()
        if self.queue.finish(r.id, S.FAILED, now, failure_reason=reason, content_type=written,
                             expected=expected):
            r.status, r.finished_at, r.failure_reason, r.output_content_type = S.FAILED, now, reason, written
            self._notify(r, body)

    def _notify(self, r: AsyncRequest, body: bytes | None) -> None:
        notify.publish(self.sns, r, body)
        self.queue.mark_notified(r.id)

    def _expire(self) -> None:
        for r in self.queue.expired(self.clock()):
            LOG.info("async inference %s of %s expired in the queue", r.inference_id, r.endpoint)
            self._failed(r, f"ClientError: The request expired after spending more than RequestTTLSeconds "
                         f"({r.ttl_seconds} s) in the queue.", None, None, expected=S.PENDING)  # unverified

    def _fail_all(self, key: EndpointKey, reason: str) -> None:
        for r in self.queue.claim(key, 1000, self.clock()):
            self._failed(r, f"ClientError: {reason}", None, None)

    # -- metrics --------------------------------------------------------------------------------------
    def publish_metrics(self) -> None:
        """The backlog metrics of every async endpoint (zeros included, so scale-in sees an empty queue)."""
        if self.metric_store is None:
            return
        backlog = self.queue.backlog()
        now, mono = self.clock(), time.monotonic()
        out: dict[Scope, list[Any]] = {}
        for e in self.hosting.repo.list_endpoints():
            if not e.current.config.get("AsyncInferenceConfig") or e.status.value == "Deleting":
                continue
            key = (e.scope.account_id, e.scope.region, e.name)
            b = backlog.get(key)
            size = b.size if b else 0
            if size:
                self._active_until[key] = mono + ACTIVE_SECONDS
            elif self._active_until.get(key, 0.0) <= mono and mono - self._published.get(key, -IDLE_EVERY) < IDLE_EVERY:
                continue
            self._published[key] = mono
            instances = len(self.replicas(key))
            age = max(0.0, now - b.oldest) if b and b.oldest is not None else 0.0
            dims = (("EndpointName", e.name),)
            out.setdefault(e.scope, []).extend([
                Datum(NAMESPACE, "ApproximateBacklogSize", dims, now, float(size), "Count"),
                Datum(NAMESPACE, "ApproximateBacklogSizePerInstance", dims, now, size / max(1, instances), "Count"),
                Datum(NAMESPACE, "ApproximateAgeOfOldestRequest", dims, now, age, "Seconds"),
                Datum(NAMESPACE, "HasBacklogWithoutCapacity", dims, now, 1.0 if size and not instances else 0.0,
                      "Count")])
        for scope, data in out.items():
            try:
                self.metric_store.put(scope, data)
            except Exception:
                LOG.exception("writing async inference metrics failed")
