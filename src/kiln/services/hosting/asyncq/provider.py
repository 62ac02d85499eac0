"""sagemaker-runtime InvokeEndpointAsync: validate, enqueue durably, answer 202 at once with the
locations the answer will be written to."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from kiln.aws import errors
from kiln.aws.context import RequestContext
from kiln.aws.dispatch import Provider, operation
from kiln.core import errors as domain
from kiln.services.hosting.asyncq.config import DEFAULT_TIMEOUT, DEFAULT_TTL, AsyncSettings, of_endpoint_config
from kiln.services.hosting.asyncq.store import AsyncQueue, AsyncRequest
from kiln.services.hosting.asyncq.worker import AsyncDispatcher

ACCEPTING = ("InService", "Updating", "SystemUpdating", "RollingBack")
MAX_INLINE = 128000  # the model's bound on Body


async def read_inline(body: Any) -> bytes | None:
    """The inline Body (bytes or the gateway's stream); None when the request carries none."""
    if body is None:
        return None
    if isinstance(body, bytes | bytearray):
        data = bytes(body)
    else:
        chunks, size = [], 0
        async for chunk in body:  # stops at the first chunk past the limit: enough to refuse it
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_INLINE:
                break
        data = b"".join(chunks)
    if len(data) > MAX_INLINE:
        raise errors.ValidationError(f"Body is larger than the maximum of {MAX_INLINE} bytes; upload the payload "
                                     "to S3 and pass its InputLocation.")  # unverified
    return data or None


def locations(settings: AsyncSettings, inference_id: str, extension: str | None,
              filename: str | None) -> tuple[str, str | None]:
    """Where the answer goes: `<S3OutputPath>[/<extension>]/<Filename | InferenceId.out>`, and the
    failure `<S3FailurePath>[/<extension>]/<Filename | InferenceId>-error.out`."""
    ext = f"{extension.strip('/')}/" if extension and extension.strip("/") else ""
    base = filename or inference_id
    output = f"{settings.output_path}/{ext}{filename or f'{inference_id}.out'}"
    failure = f"{settings.failure_path}/{ext}{base}-error.out" if settings.failure_path else None
    return output, failure


class AsyncInvokeProvider(Provider):
    service = "sagemaker-runtime"

    def __init__(self, hosting: Any, queue: AsyncQueue, dispatcher: AsyncDispatcher) -> None:
        self.hosting = hosting  # HostingService
        self.queue = queue
        self.dispatcher = dispatcher

    def domain_errors(self, err: domain.DomainError) -> errors.AwsError:
        return errors.ValidationError(err.message)

    @operation("InvokeEndpointAsync")
    async def invoke_endpoint_async(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        body = await read_inline(request.get("Body"))
        return await asyncio.to_thread(self._invoke, ctx, request, body)

    def _invoke(self, ctx: RequestContext, request: dict[str, Any], body: bytes | None) -> dict[str, Any]:
        name, scope = request["EndpointName"], ctx.scope
        e = self.hosting.repo.get_endpoint(scope, name)
        if e is None:
            raise errors.ValidationError(f"Endpoint {name} of account {scope.account_id} not found.")
        settings = of_endpoint_config(e.current.config)
        if settings is None:
            raise errors.ValidationError(f"Endpoint {name} is not configured for asynchronous inference "
                                         "(its endpoint config has no AsyncInferenceConfig); use "
                                         "InvokeEndpoint.")  # unverified
        if e.status.value not in ACCEPTING:
            raise errors.ValidationError(f"Endpoint {name} of account {scope.account_id} is not in service "
                                         f"(status {e.status.value}).")  # unverified
        location = request.get("InputLocation")
        if (body is None) == (location is None):
            raise errors.ValidationError("Exactly one of InputLocation and Body must be provided.")  # unverified
        if location is not None and not location.startswith("s3://"):
            raise errors.ValidationError(f"InputLocation {location!r}: Kiln reads s3:// locations only.")
        inference_id = request.get("InferenceId") or str(uuid.uuid4())
        output, failure = locations(settings, inference_id, request.get("S3OutputPathExtension"),
                                    request.get("Filename"))
        self.queue.enqueue(AsyncRequest(
            str(uuid.uuid4()), scope, name, inference_id, location, body,
            request.get("ContentType"), request.get("Accept"), request.get("CustomAttributes"), output, failure,
            settings.to_json(), self.dispatcher.clock(), int(request.get("RequestTTLSeconds") or DEFAULT_TTL),
            int(request.get("InvocationTimeoutSeconds") or DEFAULT_TIMEOUT)))
        self.dispatcher.notify()
        out = {"InferenceId": inference_id, "OutputLocation": output}
        if failure:
            out["FailureLocation"] = failure
        return out
