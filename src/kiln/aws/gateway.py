"""The ASGI entry point of the AWS wire APIs: route -> parse -> validate -> dispatch -> serialize.

Errors are classified here: `AwsError` goes out as itself, a domain error through the owning
provider's mapping, anything else is Kiln's bug: logged with its traceback, answered as a 500
`InternalFailure` that never leaks the traceback.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import zlib
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from functools import cache, partial
from typing import Any

from botocore.model import OperationModel, ServiceModel
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from kiln.aws import errors, routing, validate
from kiln.aws.context import RequestContext
from kiln.aws.dispatch import DispatchTable
from kiln.aws.protocol.chunked import ChunkedDecoder, is_aws_chunked
from kiln.aws.protocol.common import Codec, Headers, HttpResponse, ProtocolError
from kiln.aws.protocol.json import JsonCodec
from kiln.aws.protocol.query import QueryCodec
from kiln.aws.protocol.rest_json import RestJsonCodec
from kiln.aws.protocol.rest_xml import RestXmlCodec
from kiln.aws.specs import SERVICES, service_model
from kiln.core import ids
from kiln.core.errors import DomainError
from kiln.core.scope import Scope as KilnScope

LOG = logging.getLogger(__name__)

MAX_BUFFERED_BODY = 64 * 1024 * 1024  # non-streaming bodies are read whole; beyond this: 413
SERVED = frozenset(SERVICES)
_WORKERS = ThreadPoolExecutor(max_workers=40, thread_name_prefix="kiln-handler")  # anyio's default limit

CODECS: dict[str, Codec] = {
    "json": JsonCodec(),
    "rest-json": RestJsonCodec(),
    "rest-xml": RestXmlCodec(),
    "query": QueryCodec(),
}


class BodyStream:
    """A request body handed to a streaming handler: async-iterable bytes, plus trailing headers."""

    def __init__(self, source: AsyncIterator[bytes], trailers: dict[str, str] | None = None) -> None:
        self._source = source
        self.trailers = trailers if trailers is not None else {}

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._source.__aiter__()


def protocol_for(service: ServiceModel, content_type: str) -> str:
    """The codec for a request. CloudWatch speaks JSON 1.0 (current botocore) or query (older)."""
    kind = "json" if content_type.startswith("application/x-amz-json") else \
        "query" if content_type.startswith("application/x-www-form-urlencoded") else ""
    return _protocol_for(service.service_name, kind)


@cache
def _protocol_for(service_name: str, kind: str) -> str:
    service = service_model(service_name)
    protocols = service.metadata.get("protocols") or [service.protocol]
    if kind and kind in protocols:
        return kind
    for name in protocols:
        if name in CODECS:
            return name
    return str(service.protocol)


def unserved(name: str) -> HttpResponse:
    """The answer to a client of an AWS service Kiln does not serve (JSON: what most services speak)."""
    request_id = ids.request_id()
    message = f"Kiln does not serve the AWS service {name!r}; it serves {', '.join(SERVICES)}."
    return HttpResponse(501, {"Content-Type": "application/x-amz-json-1.1", "x-amzn-ErrorType": "NotImplemented",
                              "x-amzn-RequestId": request_id},
                        json.dumps({"__type": "NotImplemented", "message": message}).encode())


def gunzip(body: bytes) -> bytes:
    """A gzip-encoded request body, decoded; never more than MAX_BUFFERED_BODY bytes."""
    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(body, MAX_BUFFERED_BODY + 1)
    except zlib.error as exc:
        raise ProtocolError("The request body is not valid gzip.") from exc
    if len(out) > MAX_BUFFERED_BODY or inflater.unconsumed_tail:
        raise errors.error("RequestEntityTooLarge", 413)("Request body too large once decompressed.")
    return out


class Gateway:
    def __init__(self, table: DispatchTable, account_id: str, region: str,
                 own_hosts: tuple[str, ...] = ("localhost", "127.0.0.1")) -> None:
        self.table = table
        self.account_id = account_id
        self.region = region
        self.own_hosts = own_hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        response = await self.handle(request)
        body = response.body
        if isinstance(body, bytes | bytearray):  # the common case, sent without a Response object
            raw = [(k.encode("latin-1"), str(v).encode("latin-1")) for k, v in response.headers.items()
                   if k.lower() != "content-length"]
            head = request.method == "HEAD"
            declared = response.headers.get("Content-Length") or response.headers.get("content-length")
            if not (response.status < 200 or response.status in (204, 304)):  # as Starlette's Response
                raw.append((b"content-length", str(declared if head and declared else len(body)).encode()))
            payload = b"" if head else bytes(body)
            await send({"type": "http.response.start", "status": response.status, "headers": raw})
            await send({"type": "http.response.body", "body": payload})
            return
        await StreamingResponse(body, response.status, response.headers)(scope, receive, send)

    async def handle(self, request: Request) -> HttpResponse:
        headers = Headers.from_asgi(request.scope["headers"])
        raw_path = request.scope.get("raw_path") or request.scope["path"].encode()
        routed = routing.route(request.method, raw_path.decode("latin-1"),
                               request.scope.get("query_string", b"").decode("latin-1"), headers,
                               self.own_hosts)
        service_name, cred, http = routed.service, routed.credential, routed.request
        if service_name not in SERVED:
            return unserved(service_name)
        service = service_model(service_name)
        codec = CODECS[protocol_for(service, headers.get("content-type", ""))]
        scope = KilnScope(self.account_id, cred.region if cred else self.region)
        ctx = RequestContext(service_name, "", scope, ids.request_id(),
                             cred.access_key if cred else "anonymous", headers.get("host", ""))
        operation: OperationModel | None = None
        try:
            if codec.routes_by_body:
                http.body = await self._read_body(request, headers)
            operation = codec.find_operation(service, http)
            ctx.operation = operation.name
            handler = self.table.get(service_name, operation.name)
            if handler is None:
                raise errors.NotImplementedOperation(
                    f"Operation {operation.name} of service {service_name} is not implemented by Kiln yet.")
            if codec.streams_input(operation):
                http.stream = self._stream(request, headers)
            elif not codec.routes_by_body:
                http.body = await self._read_body(request, headers)
            params = codec.parse(operation, http)
            violations = validate.collect(operation.input_shape, params)
            if violations:
                raise errors.validation_error_for(service_name)(validate.message(violations))
            ctx.headers = headers
            result = await self._call(handler, ctx, params)
            response = codec.serialize(operation, result, ctx)
        except errors.AwsError as err:
            response = codec.serialize_error(service, operation, err, ctx)
        except DomainError as err:
            handler = self.table.get(service_name, ctx.operation) if ctx.operation else None
            mapped = handler.provider.domain_errors(err) if handler else errors.InternalFailure(err.message)
            response = codec.serialize_error(service, operation, mapped, ctx)
        except Exception:
            LOG.exception("internal error in %s:%s", service_name, ctx.operation or "?")
            response = codec.serialize_error(service, operation, errors.InternalFailure(
                "We encountered an internal error. Please try again."), ctx)
        response.headers.setdefault("x-amzn-RequestId", ctx.request_id)
        if service_name == "s3":
            response.headers.setdefault("x-amz-request-id", ctx.request_id)
        if response.status >= 300 and headers.get("expect", "").lower() == "100-continue":
            # The client holds the body back until "100 Continue", which an early error never sends:
            # the body's bytes would be read as the next request, so this connection must end.
            response.headers["Connection"] = "close"
        return response

    async def _call(self, handler: Any, ctx: RequestContext, params: dict[str, Any]) -> Any:
        if handler.is_async:
            return await handler.fn(ctx, params)
        # Plain handlers may block (SQLite, files): a worker thread, entered with the caller's context.
        # A bare executor hop costs a fraction of anyio's to_thread on this hot path.
        call = partial(contextvars.copy_context().run, handler.fn, ctx, params)
        return await asyncio.get_running_loop().run_in_executor(_WORKERS, call)

    async def _read_body(self, request: Request, headers: Headers) -> bytes:
        declared = headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > MAX_BUFFERED_BODY:
            raise errors.error("RequestEntityTooLarge", 413)(
                f"Request body of {declared} bytes exceeds the {MAX_BUFFERED_BODY}-byte limit.")
        body = bytearray()
        async for chunk in self._stream(request, headers):
            body += chunk
            if len(body) > MAX_BUFFERED_BODY:
                raise errors.error("RequestEntityTooLarge", 413)("Request body too large.")
        if "gzip" in headers.get("content-encoding", ""):
            return gunzip(bytes(body))  # botocore's requestcompression trait (PutMetricData over 10 KiB)
        return bytes(body)

    def _stream(self, request: Request, headers: Headers) -> BodyStream:
        raw = request.stream()
        if is_aws_chunked(headers):
            decoder = ChunkedDecoder(raw)
            return BodyStream(decoder.__aiter__(), decoder.trailers)
        return BodyStream(raw)
