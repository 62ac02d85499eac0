"""The model server's HTTP side: `GET /ping`, `POST /invocations`, `GET /execution-parameters`.

Plain ASGI (no framework) on uvicorn with httptools + uvloop: this is the data path of every
invocation. The handler runs on the event loop, so one process serves one prediction at a time (as
one MMS worker does); `/ping` is answered between predictions.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from kiln.serving.handlers import HandlerService

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

_PASSED = (b"x-amzn-sagemaker-custom-attributes", b"x-amzn-sagemaker-target-model",
           b"x-amzn-sagemaker-inference-id", b"x-amzn-sagemaker-target-variant")


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def _respond(send: Send, status: int, body: bytes, content_type: bytes = b"text/plain",
                   extra: list[tuple[bytes, bytes]] | None = None) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    if extra:
        headers += extra
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class ModelServerApp:
    def __init__(self, service: HandlerService, max_payload_mb: float = 6.0) -> None:
        self.service = service
        self.limit = int(max_payload_mb * 1024 * 1024)
        self.execution_parameters = json.dumps({
            "MaxConcurrentTransforms": int(os.environ.get("SAGEMAKER_MAX_CONCURRENT_TRANSFORMS", "1")),
            "BatchStrategy": os.environ.get("SAGEMAKER_BATCH_STRATEGY", "MULTI_RECORD"),
            "MaxPayloadInMB": int(max_payload_mb)}).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if kind != "http":
            return
        path, method = scope["path"], scope["method"]
        if path == "/invocations" and method == "POST":
            await self._invoke(scope, receive, send)
        elif path == "/ping" and method in ("GET", "HEAD"):
            await _respond(send, 200, b"", b"application/json")
        elif path == "/execution-parameters" and method == "GET":
            await _respond(send, 200, self.execution_parameters, b"application/json")
        else:
            await _respond(send, 404, b"Not Found")

    async def _invoke(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await _read_body(receive, self.limit)
        if body is None:
            await _respond(send, 413, b"Request payload is too large.")
            return
        content_type = accept = None
        passed: dict[str, str] = {}
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value.decode("latin-1")
            elif name == b"accept":
                accept = value.decode("latin-1")
            elif name in _PASSED:
                passed[name.decode()] = value.decode("latin-1")
        result = self.service.invoke(body, content_type, accept, passed)
        extra = [(k.lower().encode(), v.encode("latin-1")) for k, v in result.headers.items()]
        ctype = result.content_type.encode("latin-1")
        if isinstance(result.body, bytes):
            await _respond(send, result.status, result.body, ctype, extra)
            return
        await self._stream(send, result.status, result.body, ctype, extra)

    @staticmethod
    async def _stream(send: Send, status: int, chunks: Iterator[bytes], ctype: bytes,
                      extra: list[tuple[bytes, bytes]]) -> None:
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", ctype), *extra]})
        try:
            for chunk in chunks:
                if chunk:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                    await asyncio.sleep(0)
        finally:
            await send({"type": "http.response.body", "body": b""})
