"""sagemaker-runtime: InvokeEndpoint (and its response-stream twin) on the server's event loop.

The request path: (1) the variant from `X-Amzn-SageMaker-Target-Variant` or weighted at random;
(2) the replica by power of two choices on requests in flight; (3) `POST /invocations` on a kept-alive
connection; (4) the response with `x-Amzn-Invoked-Production-Variant`, container errors as
`ModelError` (424, with the container's status and message). Metrics are counted in memory and data
capture only queues bytes; both are written elsewhere.

Limits, as SageMaker's: 6 MB request payload, 60 s for the model to answer. A serverless variant
(`serverless.py`) admits at most MaxConcurrency requests (`ThrottlingException` beyond), takes 4 MB,
and starts a replica for a request that finds none (the 60 s include that cold start).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from kiln.aws import errors
from kiln.aws.context import RequestContext
from kiln.aws.dispatch import Provider, operation
from kiln.core import errors as domain
from kiln.services.hosting import eventstream, serverless
from kiln.services.hosting.invoke_errors import (
    ModelError,
    ModelNotReadyException,
    ServiceUnavailable,
    no_instance,
    timed_out,
    unavailable,
)
from kiln.services.hosting.metrics import InvocationMetrics
from kiln.services.hosting.router import NoSuchVariant, ReplicaTarget, Router, VariantRoute
from kiln.services.hosting.service import HostingService
from kiln.services.hosting.upstream import UpstreamError, UpstreamResponse, UpstreamTimeout

MAX_PAYLOAD = 6 * 1024 * 1024
MODEL_TIMEOUT = 60.0

ThrottlingException = errors.error("ThrottlingException", 400)  # unverified: the status (the code is observed)

_FORWARDED = (("CustomAttributes", "X-Amzn-SageMaker-Custom-Attributes"),
              ("TargetModel", "X-Amzn-SageMaker-Target-Model"),
              ("InferenceId", "X-Amzn-SageMaker-Inference-Id"))


class _Rejected(Exception):
    """An error answered before the model ran, with the status class it counts as."""

    def __init__(self, error: errors.AwsError) -> None:
        super().__init__(error.message)
        self.error = error


def payload_too_large(size: int, limit: int = MAX_PAYLOAD) -> errors.AwsError:
    return errors.ValidationError(f"Received payload size of {size} bytes is larger than the maximum allowed "
                                  f"payload size of {limit} bytes.")  # unverified


def _asynchronous_only(ctx: RequestContext, name: str) -> errors.AwsError:
    """Real-time calls to an endpoint whose config has an AsyncInferenceConfig (its requests go through
    the queue, with InvokeEndpointAsync)."""
    return errors.ValidationError(f"Endpoint {name} of account {ctx.scope.account_id} is an asynchronous "
                                  f"inference endpoint: use InvokeEndpointAsync.")  # unverified wording


async def read_payload(body: Any) -> bytes:
    """The request body (bytes, or the gateway's stream), refusing more than 6 MB."""
    if body is None:
        return b""
    if isinstance(body, bytes | bytearray):
        data = bytes(body)
    else:
        chunks: list[bytes] = []
        size = 0
        async for chunk in body:
            size += len(chunk)
            if size > MAX_PAYLOAD:
                raise _Rejected(payload_too_large(size))
            chunks.append(chunk)
        data = b"".join(chunks)
    if len(data) > MAX_PAYLOAD:
        raise _Rejected(payload_too_large(len(data)))
    return data


class RuntimeProvider(Provider):
    service = "sagemaker-runtime"
    multimodel: Any = None  # multimodel.MultiModelHosting: InvokeEndpoint with TargetModel (set by the platform)

    def __init__(self, router: Router, metrics: InvocationMetrics, hosting: HostingService,
                 timeout: float = MODEL_TIMEOUT) -> None:
        self.router = router
        self.metrics = metrics
        self.hosting = hosting
        self.timeout = timeout

    def domain_errors(self, err: domain.DomainError) -> errors.AwsError:
        return errors.ValidationError(err.message)

    # -- InvokeEndpoint -----------------------------------------------------------------------------
    @operation("InvokeEndpoint")
    async def invoke_endpoint(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        started = time.perf_counter()
        name = request["EndpointName"]
        scope = ctx.scope
        route = self.router.get((scope.account_id, scope.region, name))
        if route is None:
            raise await self._not_serving(ctx, name)
        if route.extras.get("asynchronous"):
            raise _asynchronous_only(ctx, name)
        variant: VariantRoute | None = None
        gate: serverless.ServerlessGate | None = None  # set once a serverless variant admitted the request
        model_s = 0.0
        status = 0  # the container's status once it answered
        try:
            body = await read_payload(request.get("Body"))
            variant = self._variant(route, request.get("TargetVariant"), name)
            headers = self._headers(request, request.get("Accept"))
            timeout = self.timeout
            if variant.serverless is not None:
                admitted = variant.serverless
                variant = await self._serverless(admitted, variant, len(body))
                gate = admitted
                timeout = max(0.001, self.timeout - (time.perf_counter() - started))
            if self.multimodel is not None and (variant.multimodel or request.get("TargetModel")):
                try:
                    response, model_s = await self.multimodel.invoke(ctx, name, variant, request, headers, body,
                                                                     timeout)
                except errors.AwsError as err:
                    raise _Rejected(err) from None
            else:
                response, model_s = await self._call(variant, headers, body, timeout=timeout)
            status = response.status
            if status >= 400:
                raise self._model_error(ctx, name, response)
            content_type = response.headers.get(b"content-type", b"application/json").decode("latin-1")
            capture = route.extras.get("capture")
            if capture is not None:
                capture.offer(variant.name, time.time(), body, request.get("ContentType") or "application/json",
                              response.body, content_type, request.get("InferenceId"))
            out: dict[str, Any] = {"Body": response.body, "ContentType": content_type,
                                   "InvokedProductionVariant": variant.name}
            attributes = response.headers.get(b"x-amzn-sagemaker-custom-attributes")
            if attributes is not None:
                out["CustomAttributes"] = attributes.decode("latin-1")
            return out
        except _Rejected as rejected:
            status = status or rejected.error.status
            raise rejected.error from None
        finally:
            if gate is not None:
                gate.leave(model_s)
            if variant is not None:
                status = status or 500
                total_us = (time.perf_counter() - started) * 1e6
                model_us = model_s * 1e6
                self.metrics.record((scope.account_id, scope.region, name, variant.name), model_us,
                                    total_us - model_us, status)

    async def _serverless(self, gate: serverless.ServerlessGate, variant: VariantRoute, size: int) -> VariantRoute:
        """Admit the request (Throttled beyond MaxConcurrency), then the variant with a replica (a cold
        start when there is none). Once this returns, the caller owes `gate.leave()`."""
        if size > serverless.MAX_PAYLOAD:
            raise _Rejected(payload_too_large(size, serverless.MAX_PAYLOAD))
        try:
            gate.admit()
        except serverless.Throttled as exc:
            raise _Rejected(ThrottlingException(str(exc))) from None
        if variant.replicas:
            return variant
        try:
            return await gate.ready(time.monotonic() + self.timeout)
        except serverless.NotReady as exc:
            gate.leave(0.0)
            raise _Rejected(ModelNotReadyException(str(exc))) from None
        except BaseException:
            gate.leave(0.0)
            raise

    async def _call(self, variant: VariantRoute, headers: list[tuple[str, str]], body: bytes,
                    stream: bool = False, timeout: float | None = None) -> tuple[UpstreamResponse, float]:
        """POST /invocations on a replica chosen by power of two choices; a replica that cannot be
        reached (or dies mid-request) is given up for another one, once."""
        timeout = self.timeout if timeout is None else timeout
        tried: ReplicaTarget | None = None
        for attempt in (0, 1):
            replica = variant.pick(exclude=tried)
            if replica is None:
                raise _Rejected(no_instance(variant.name))
            replica.inflight += 1
            t0 = time.perf_counter()
            try:
                response = await replica.client.request("POST", "/invocations", headers, body, timeout=timeout,
                                                        stream=stream)
                replica.served += 1
                return response, time.perf_counter() - t0
            except UpstreamTimeout:
                raise _Rejected(timed_out(self.timeout)) from None
            except UpstreamError as exc:
                if attempt == 1:
                    raise _Rejected(unavailable(variant.name, exc)) from None
                tried = replica
            finally:
                replica.inflight -= 1
        raise AssertionError("unreachable")

    @staticmethod
    def _variant(route: Any, target: str | None, name: str) -> VariantRoute:
        try:
            variant = route.choose(target)
        except NoSuchVariant:
            raise _Rejected(errors.ValidationError(
                f"The variant {target} does not exist in endpoint {name}.")) from None  # unverified
        if variant is None:
            raise _Rejected(ServiceUnavailable(f"Endpoint {name} has no healthy instance with traffic weight; "
                                               "try again shortly."))
        return variant

    @staticmethod
    def _headers(request: dict[str, Any], accept: str | None) -> list[tuple[str, str]]:
        headers = [("Content-Type", request.get("ContentType") or "application/json")]
        if accept:
            headers.append(("Accept", accept))
        for member, header in _FORWARDED:
            value = request.get(member)
            if value is not None:
                headers.append((header, value))
        return headers

    @staticmethod
    def _model_error(ctx: RequestContext, name: str, response: UpstreamResponse) -> _Rejected:
        text = response.body.decode("utf-8", "replace")
        kind = "server" if response.status >= 500 else "client"
        region, account = ctx.scope.region, ctx.scope.account_id
        group = f"/aws/sagemaker/Endpoints/{name}"
        url = (f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#logEventViewer:"
               f"group={group}")
        return _Rejected(ModelError(
            f'Received {kind} error ({response.status}) from primary with message "{text}". See {url} in account '
            f"{account} for more information.",
            fields={"OriginalStatusCode": response.status, "OriginalMessage": text,
                    "LogStreamArn": f"arn:aws:logs:{region}:{account}:log-group:{group}"}))

    async def _not_serving(self, ctx: RequestContext, name: str) -> errors.AwsError:
        endpoint = await asyncio.to_thread(self.hosting.repo.get_endpoint, ctx.scope, name)
        if endpoint is None:
            return errors.ValidationError(f"Endpoint {name} of account {ctx.scope.account_id} not found.")
        return errors.ValidationError(f"Endpoint {name} of account {ctx.scope.account_id} is not in service "
                                      f"(status {endpoint.status.value}).")  # unverified

    # -- InvokeEndpointWithResponseStream -------------------------------------------------------------
    @operation("InvokeEndpointWithResponseStream")
    async def invoke_endpoint_with_response_stream(self, ctx: RequestContext,
                                                   request: dict[str, Any]) -> dict[str, Any]:
        started = time.perf_counter()
        name = request["EndpointName"]
        scope = ctx.scope
        route = self.router.get((scope.account_id, scope.region, name))
        if route is None:
            raise await self._not_serving(ctx, name)
        if route.extras.get("asynchronous"):
            raise _asynchronous_only(ctx, name)
        try:
            body = await read_payload(request.get("Body"))
            variant = self._variant(route, request.get("TargetVariant"), name)
            if variant.serverless is not None:
                raise _Rejected(errors.ValidationError(
                    f"Endpoint {name} is serverless: response streaming is not supported for serverless "
                    "endpoints; use InvokeEndpoint."))  # unverified
            response, _ = await self._call(variant, self._headers(request, request.get("Accept")), body, stream=True)
        except _Rejected as rejected:
            raise rejected.error from None
        if response.status >= 400:
            chunks = [c async for c in response.iter_chunks()]
            response.body = b"".join(chunks)
            self.metrics.record((scope.account_id, scope.region, name, variant.name), 0.0,
                                (time.perf_counter() - started) * 1e6, response.status)
            raise self._model_error(ctx, name, response).error
        key = (scope.account_id, scope.region, name, variant.name)
        content_type = response.headers.get(b"content-type", b"application/octet-stream").decode("latin-1")
        out: dict[str, Any] = {"Body": self._events(response, key, started), "ContentType": content_type,
                               "InvokedProductionVariant": variant.name}
        attributes = response.headers.get(b"x-amzn-sagemaker-custom-attributes")
        if attributes is not None:
            out["CustomAttributes"] = attributes.decode("latin-1")
        return out

    async def _events(self, response: UpstreamResponse, key: tuple[str, str, str, str],
                      started: float) -> AsyncIterator[bytes]:
        status = 200
        try:
            async for chunk in response.iter_chunks():
                yield eventstream.payload_part(chunk)
        except UpstreamError as exc:
            status = 500
            yield eventstream.exception("ModelStreamError", {"Message": str(exc), "ErrorCode": "ModelStreamError"})
        finally:
            total = (time.perf_counter() - started) * 1e6
            self.metrics.record(key, total, 0.0, status)
