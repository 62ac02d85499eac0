"""The model server's HTTP side: `GET /ping`, `POST /invocations`, `GET /execution-parameters`.

`ModelServerApp.handle()` answers one request; `httpserver.py` serves it over a lean httptools
protocol (the default), and `ModelServerApp` is also plain ASGI for uvicorn. The handler runs on the
event loop, so one process serves one prediction at a time (as one MMS worker does); `/ping` is
answered between predictions.
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
    def __init__(self, service: HandlerService | None, max_payload_mb: float = 6.0, multimodel: Any = None) -> None:
        self.service = service
        self.multimodel = multimodel  # kiln.serving.multimodel.MultiModelService in multi-model mode
        self.limit = int(max_payload_mb * 1024 * 1024)
        self.execution_parameters = json.dumps({
            "MaxConcurrentTransforms": int(os.environ.get("SAGEMAKER_MAX_CONCURRENT_TRANSFORMS", "1")),
            "BatchStrategy": os.environ.get("SAGEMAKER_BATCH_STRATEGY", "MULTI_RECORD"),
            "MaxPayloadInMB": int(max_payload_mb)}).encode()

    def handle(self, method: str, path: str, headers: list[tuple[bytes, bytes]],
               body: bytes | None) -> tuple[int, bytes, list[tuple[bytes, bytes]], bytes | Iterator[bytes]]:
        """One request -> (status, content type, extra headers, body or chunks). `body` is None when
        it was larger than the payload limit."""
        if path == "/invocations" and method == "POST":
            if body is None:
                return 413, b"text/plain", [], b"Request payload is too large."
            if self.service is None:
                return 404, b"text/plain", [], b"This is a multi-model container: POST /models/<name>/invoke."
            return self.service.answer(headers, body, _PASSED)
        if path == "/ping" and method in ("GET", "HEAD"):
            return 200, b"application/json", [], b""
        if path == "/execution-parameters" and method == "GET":
            return 200, b"application/json", [], self.execution_parameters
        if self.multimodel is not None and path.startswith("/models"):
            return self.multimodel.handle(method, path, headers, body)  # type: ignore[no-any-return]
        return 404, b"text/plain", [], b"Not Found"

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
        if scope.get("query_string") and path.startswith("/models"):  # the multi-model list's page token
            path += "?" + scope["query_string"].decode("latin-1")
        body = await _read_body(receive, self.limit) if method == "POST" else b""
        status, ctype, extra, out = self.handle(method, path, scope["headers"], body)
        if isinstance(out, bytes):
            await _respond(send, status, out, ctype, extra)
            return
        await self._stream(send, status, out, ctype, extra)

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
