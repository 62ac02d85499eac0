"""A lean HTTP/1.1 server for the model server: an `asyncio.Protocol` over httptools' C parser.

Why not uvicorn here: the model server's own work per invocation is the model; uvicorn's per-request
machinery (ASGI scope and message dicts, a task per request, header normalisation) cost ~40% on top
of a small scikit-learn model. This server parses with httptools, calls `ModelServerApp.handle()`
inline when a request is complete, and writes the response with one `write()`. It does what the
inference contract needs: keep-alive and pipelined requests (answered in order), Content-Length and
chunked request bodies, `Expect: 100-continue`, chunked responses for handlers that stream, the
payload limit, 400 on malformed requests. TCP or a unix socket; TCP_NODELAY on TCP.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import logging
import socket
from collections.abc import Iterator

import httptools

from kiln.serving.app import ModelServerApp

LOG = logging.getLogger("kiln.serving")
_REASONS = {s.value: s.phrase.encode() for s in http.HTTPStatus}


def _head(status: int, ctype: bytes, extra: list[tuple[bytes, bytes]], length: int | None, keep: bool) -> bytes:
    lines = [b"HTTP/1.1 %d %s\r\ncontent-type: %s\r\n" % (status, _REASONS.get(status, b"Unknown"), ctype)]
    lines.extend(b"%s: %s\r\n" % kv for kv in extra)
    lines.append(b"content-length: %d\r\n" % length if length is not None else b"transfer-encoding: chunked\r\n")
    if not keep:
        lines.append(b"connection: close\r\n")
    lines.append(b"\r\n")
    return b"".join(lines)


class _Protocol(asyncio.Protocol):
    def __init__(self, app: ModelServerApp) -> None:
        self.app = app
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.size = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._close()
        except httptools.HttpParserError:
            self._write(_head(400, b"text/plain", [], 11, False) + b"Bad Request")
            self._close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    # -- httptools callbacks --------------------------------------------------------------------------
    def on_message_begin(self) -> None:
        self.url, self.headers, self.body, self.size = b"", [], [], 0

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        if any(k == b"expect" and v.lower() == b"100-continue" for k, v in self.headers):
            self._write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self.size += len(body)
        if self.size <= self.app.limit:
            self.body.append(body)

    def on_message_complete(self) -> None:
        method = self.parser.get_method().decode("latin-1")
        # the query is dropped, except for the multi-model list's page token (`GET /models?next_page_token=`)
        path = (self.url if self.url.startswith(b"/models") else self.url.split(b"?", 1)[0]).decode("latin-1")
        body = None if self.size > self.app.limit else (self.body[0] if len(self.body) == 1 else b"".join(self.body))
        keep = self.parser.should_keep_alive()
        try:
            status, ctype, extra, out = self.app.handle(method, path, self.headers, body)
        except Exception:  # the handler already answers model errors; this is the server's own bug
            LOG.exception("request failed")
            status, ctype, extra, out = 500, b"text/plain", [], b"Internal Server Error"
        if isinstance(out, bytes):
            self._write(_head(status, ctype, extra, len(out), keep) + (b"" if method == "HEAD" else out))
        else:
            self._stream(status, ctype, extra, out, keep)
        if not keep:
            self._close()

    # -- output -----------------------------------------------------------------------------------------
    def _stream(self, status: int, ctype: bytes, extra: list[tuple[bytes, bytes]], chunks: Iterator[bytes],
                keep: bool) -> None:
        self._write(_head(status, ctype, extra, None, keep))
        try:
            for chunk in chunks:
                if chunk:
                    self._write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        except Exception:
            LOG.exception("streaming the response failed")
            self._close()  # a truncated chunked body: the client sees the stream break
            return
        self._write(b"0\r\n\r\n")

    def _write(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)

    def _close(self) -> None:
        if self.transport is not None:
            self.transport.close()
            self.transport = None


async def serve(app: ModelServerApp, *, host: str = "127.0.0.1", port: int = 8080, uds: str | None = None) -> None:
    """Serve until cancelled (or the process is signalled)."""
    loop = asyncio.get_running_loop()
    if uds:
        server = await loop.create_unix_server(lambda: _Protocol(app), uds)
    else:
        server = await loop.create_server(lambda: _Protocol(app), host, port, reuse_address=True, backlog=1024)
    async with server:
        await server.serve_forever()
