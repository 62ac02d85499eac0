"""In-process AWS calls: the same validation and dispatch as the HTTP path, without HTTP.

Orchestrators (pipeline steps, tuning trials) call other services through this client, so that an
internal `CreateTrainingJob` gets exactly the checks and errors an external caller would:

    client = InternalClient(table, account_id, region)
    client.call("sagemaker", "CreateTrainingJob", step_arguments)

`params` is the request dict with the model's member names: what boto3 takes, or the JSON request
document the SDK would send (a pipeline step's `Arguments`). Values are type-checked against the
model as the JSON codec checks a request body (timestamps may be datetimes, epoch seconds or ISO
text; blobs bytes or base64 text), then validated (`kiln.aws.validate`). The result is shaped the
way boto3 returns it: only modelled members, None dropped, timestamps as aware datetimes.

Errors are the `AwsError` subclasses the wire would carry; a domain error goes through the owning
provider's `domain_errors`; anything else is Kiln's bug, logged and raised as `InternalFailure`
(chained to the original exception).

Thread-safety: stateless apart from the dispatch table; safe to share between threads.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from botocore.model import OperationModel, Shape

from kiln.aws import errors, validate
from kiln.aws.context import RequestContext
from kiln.aws.dispatch import DispatchTable, Handler
from kiln.aws.protocol import json as jsonp
from kiln.aws.protocol.common import ProtocolError
from kiln.aws.protocol.shapes import lower_camel, to_datetime
from kiln.aws.specs import SERVICES, operation_names, service_model
from kiln.core import ids
from kiln.core.errors import DomainError
from kiln.core.scope import Scope

LOG = logging.getLogger(__name__)


class BytesStream:
    """A streaming payload given as bytes, handed to the handler the way the gateway hands a body."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self.trailers: dict[str, str] = {}

    async def _iterate(self) -> AsyncIterator[bytes]:
        if self._data:
            yield self._data

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._iterate()


class InternalClient:
    def __init__(self, table: DispatchTable, account_id: str, region: str) -> None:
        self.table = table
        self.account_id = account_id
        self.region = region

    def call(self, service: str, operation: str, params: Mapping[str, Any] | None = None, *,
             region: str | None = None) -> dict[str, Any]:
        """Run `operation` of `service` in-process and return its result.

        Raises:
            AwsError: what the HTTP path would answer (validation, not implemented, mapped domain
                errors, InternalFailure for a handler's bug).
            RuntimeError: an async handler called from inside a running event loop; use `acall`.
        """
        handler, op, ctx, request = self._prepare(service, operation, params, region)
        if handler.is_async:
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                with _translated(handler, ctx):
                    return shape_output(op.output_shape, asyncio.run(handler.fn(ctx, request)))
            raise RuntimeError(f"{service}:{operation} has an async handler and an event loop is running in "
                               "this thread; use `await InternalClient.acall(...)` instead of `call`.")
        with _translated(handler, ctx):
            return shape_output(op.output_shape, handler.fn(ctx, request))

    async def acall(self, service: str, operation: str, params: Mapping[str, Any] | None = None, *,
                    region: str | None = None) -> dict[str, Any]:
        """`call` for async code: async handlers are awaited, sync ones run in a worker thread."""
        handler, op, ctx, request = self._prepare(service, operation, params, region)
        with _translated(handler, ctx):
            if handler.is_async:
                result = await handler.fn(ctx, request)
            else:
                result = await asyncio.to_thread(handler.fn, ctx, request)
        return shape_output(op.output_shape, result)

    def _prepare(self, service: str, operation: str, params: Mapping[str, Any] | None,
                 region: str | None) -> tuple[Handler, OperationModel, RequestContext, dict[str, Any]]:
        if service not in SERVICES:
            raise errors.UnknownOperationException(f"Service {service} is not served by Kiln.", status=400)
        model = service_model(service)
        if operation not in operation_names(model):
            raise errors.UnknownOperationException(
                f"Operation {operation} is not an operation of service {service}.", status=400)
        op = model.operation_model(operation)
        handler = self.table.get(service, operation)
        if handler is None:
            raise errors.NotImplementedOperation(
                f"Operation {operation} of service {service} is not implemented by Kiln yet.")
        request = coerce_input(op, dict(params or {}))
        violations = validate.collect(op.input_shape, request)
        if violations:
            raise errors.validation_error_for(service)(validate.message(violations))
        ctx = RequestContext(service, operation, Scope(self.account_id, region or self.region), ids.request_id(),
                             access_key="kiln-internal", host="internal")
        return handler, op, ctx, request


@contextmanager
def _translated(handler: Handler, ctx: RequestContext) -> Iterator[None]:
    """A handler's exceptions as the wire would answer them: AwsError as is, domain errors through the
    provider's mapping, anything else (Kiln's bug) logged and raised as InternalFailure."""
    try:
        yield
    except errors.AwsError:
        raise
    except DomainError as exc:
        raise handler.provider.domain_errors(exc) from exc
    except Exception as exc:
        LOG.exception("internal error in %s:%s (in-process call)", ctx.service, ctx.operation)
        raise errors.InternalFailure("We encountered an internal error. Please try again.") from exc


def coerce_input(op: OperationModel, params: dict[str, Any]) -> dict[str, Any]:
    """Type-check and convert `params` against the input shape, as the codecs do a request.

    A REST payload that travels raw (a blob or string `payload` member) is taken as bytes, text or
    an async byte stream; a streaming one reaches the handler as a stream, as over HTTP.
    """
    shape = op.input_shape
    if shape is None:
        return {}
    payload = shape.serialization.get("payload")
    raw = payload if payload and shape.members[payload].type_name in ("blob", "string") else None
    body = params.get(raw) if raw else None
    out = _coerce(shape, {k: v for k, v in params.items() if k != raw}, "")
    if raw and body is not None:
        out[raw] = _raw_payload(shape.members[raw], body, raw)
        if op.has_streaming_input and isinstance(out[raw], bytes):
            out[raw] = BytesStream(out[raw])
    return out


def _raw_payload(shape: Shape, value: Any, name: str) -> Any:
    if hasattr(value, "__aiter__"):
        return value
    if shape.type_name == "blob":
        if isinstance(value, str):
            return value.encode()
        if isinstance(value, bytes | bytearray | memoryview):
            return bytes(value)
    elif isinstance(value, str):
        return value
    elif isinstance(value, bytes):
        return value.decode()
    raise ProtocolError(f"Value at '{lower_camel(name)}' failed to deserialize: expected bytes or text.")


def _coerce(shape: Shape, value: Any, where: str) -> Any:
    if value is None or shape.metadata.get("document"):
        return value
    kind = shape.type_name
    if kind == "structure" and isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            member = shape.members.get(key)
            if member is not None and item is not None:
                path = f"{where}.{lower_camel(key)}" if where else lower_camel(key)
                out[key] = _coerce(member, item, path)
        return out
    if kind == "list" and isinstance(value, list | tuple):
        return [_coerce(shape.member, v, f"{where}.{i + 1}.member") for i, v in enumerate(value)]
    if kind == "map" and isinstance(value, Mapping):
        return {k: _coerce(shape.value, v, f"{where}.{k}") for k, v in value.items()}
    if kind == "blob" and isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if kind == "timestamp" and isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return jsonp.decode(shape, value, where or "input")


def shape_output(shape: Shape | None, value: Any) -> dict[str, Any]:
    """A handler's result as boto3 would return it."""
    if shape is None or not isinstance(value, Mapping):
        return {}
    return _output(shape, value)  # type: ignore[no-any-return]


def _output(shape: Shape, value: Any) -> Any:
    if value is None or shape.metadata.get("document"):
        return value
    kind = shape.type_name
    if kind == "structure" and isinstance(value, Mapping):
        return {k: _output(m, value[k]) for k, m in shape.members.items() if value.get(k) is not None}
    if kind == "list" and isinstance(value, list | tuple):
        return [_output(shape.member, v) for v in value]
    if kind == "map" and isinstance(value, Mapping):
        return {k: _output(shape.value, v) for k, v in value.items()}
    if kind == "timestamp":
        return to_datetime(value)
    if kind == "blob" and isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except binascii.Error:
            return value.encode()
    return value
