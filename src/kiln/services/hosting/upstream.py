"""A lean HTTP/1.1 keep-alive client for the gateway -> replica hop (the InvokeEndpoint data path).

Why not httpx: its per-request cost (~0.2-0.4 ms of Python) would be most of Kiln's overhead budget.
This client is an `asyncio.Protocol` over httptools' C parser: one write per request, no per-request
task, TCP_NODELAY on every connection (no Nagle / delayed-ACK stalls), a pool of idle connections
per replica. Bodies are returned whole, or streamed chunk by chunk (`stream=True`) for
InvokeEndpointWithResponseStream.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httptools


class UpstreamError(Exception):
    """The replica could not be reached or broke the connection. `sent` is False when the request
    provably never reached it (safe to retry elsewhere)."""

    def __init__(self, message: str, *, sent: bool) -> None:
        super().__init__(message)
        self.sent = sent


class UpstreamTimeout(UpstreamError):
    pass


@dataclass(slots=True)
class UpstreamResponse:
    status: int
    headers: dict[bytes, bytes]  # lower-case names
    body: bytes = b""
    chunks: asyncio.Queue[bytes | BaseException | None] | None = None  # streaming mode
    _conn: _Connection | None = field(default=None, repr=False)

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        assert self.chunks is not None
        while True:
            item = await self.chunks.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item


class _Connection(asyncio.Protocol):
    def __init__(self, pool: UpstreamPool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self._future: asyncio.Future[UpstreamResponse] | None = None
        self._response: UpstreamResponse | None = None
        self._header: bytes = b""
        self._body: list[bytes] = []
        self._stream = False
        self._got_bytes = False

    # -- asyncio.Protocol -------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self._got_bytes = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            pass
        except httptools.HttpParserError as exc:
            self._fail(UpstreamError(f"bad response from the model container: {exc}", sent=True))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(UpstreamError("the model container closed the connection", sent=True))

    # -- httptools callbacks ------------------------------------------------------------------------
    def on_message_begin(self) -> None:
        self._response = UpstreamResponse(0, {})
        self._body = []

    def on_header(self, name: bytes, value: bytes) -> None:
        assert self._response is not None
        self._response.headers[name.lower()] = value

    def on_headers_complete(self) -> None:
        assert self._response is not None
        self._response.status = self.parser.get_status_code()
        if self._stream:
            self._response.chunks = asyncio.Queue()
            self._response._conn = self
            self._resolve(self._response)

    def on_body(self, body: bytes) -> None:
        if self._stream and self._response is not None and self._response.chunks is not None:
            self._response.chunks.put_nowait(body)
        else:
            self._body.append(body)

    def on_message_complete(self) -> None:
        response = self._response
        assert response is not None
        keep = self.parser.should_keep_alive()
        if self._stream and response.chunks is not None:
            response.chunks.put_nowait(None)
        else:
            response.body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
            self._resolve(response)
        self._response = None
        if keep and not self.closed:
            self.pool.release(self)
        else:
            self.close()

    # -- requests -------------------------------------------------------------------------------------
    def _resolve(self, response: UpstreamResponse) -> None:
        fut, self._future = self._future, None
        if fut is not None and not fut.done():
            fut.set_result(response)

    def _fail(self, exc: UpstreamError) -> None:
        fut, self._future = self._future, None
        if fut is not None and not fut.done():
            fut.set_exception(exc)
        if self._response is not None and self._response.chunks is not None:
            self._response.chunks.put_nowait(exc)

    def send(self, head: bytes, body: bytes, stream: bool) -> asyncio.Future[UpstreamResponse]:
        assert self.transport is not None
        self._future = asyncio.get_running_loop().create_future()
        self._stream = stream
        self._got_bytes = False
        if len(body) < 65536:
            self.transport.write(head + body)
        else:
            self.transport.writelines((head, body))
        return self._future

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class UpstreamPool:
    """Keep-alive connections to one replica (`host:port`, or the unix socket `uds`). Not thread-safe:
    event loop only."""

    def __init__(self, host: str, port: int, max_idle: int = 64, uds: str | None = None) -> None:
        self.host = host
        self.port = port
        self.uds = uds
        self.max_idle = max_idle
        self._idle: list[_Connection] = []
        self._host_header = f"Host: {host}:{port}\r\n".encode()
        self.closed = False

    def release(self, conn: _Connection) -> None:
        if self.closed or len(self._idle) >= self.max_idle:
            conn.close()
        else:
            self._idle.append(conn)

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            if self.uds:
                _, conn = await loop.create_unix_connection(lambda: _Connection(self), self.uds)
            else:
                _, conn = await loop.create_connection(lambda: _Connection(self), self.host, self.port)
        except OSError as exc:
            raise UpstreamError(f"cannot connect to the model container: {exc}", sent=False) from exc
        return conn

    async def request(self, method: str, path: str, headers: list[tuple[str, str]], body: bytes = b"",
                      timeout: float = 60.0, stream: bool = False) -> UpstreamResponse:
        """One request. A connection reused from the pool that turns out to be dead is retried once on
        a fresh connection (nothing reached the replica then)."""
        lines = [f"{method} {path} HTTP/1.1\r\n".encode(), self._host_header]
        lines.extend(f"{k}: {v}\r\n".encode("latin-1") for k, v in headers)
        lines.append(f"Content-Length: {len(body)}\r\n\r\n".encode())
        head = b"".join(lines)
        for attempt in (0, 1):
            conn = None
            while self._idle:
                candidate = self._idle.pop()
                if not candidate.closed:
                    conn = candidate
                    break
            reused = conn is not None
            if conn is None:
                conn = await self._connect()
            fut = conn.send(head, body, stream)
            try:
                return await _within(fut, timeout, conn)
            except UpstreamTimeout:
                raise
            except UpstreamError as exc:
                if reused and attempt == 0 and not conn._got_bytes:
                    continue  # a stale keep-alive connection: the replica closed it while idle
                raise exc
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.closed = True
        for conn in self._idle:
            conn.close()
        self._idle.clear()


async def _within(fut: asyncio.Future[UpstreamResponse], timeout: float, conn: _Connection) -> UpstreamResponse:
    loop = asyncio.get_running_loop()

    def expire() -> None:
        if not fut.done():
            fut.set_exception(UpstreamTimeout(f"no response within {timeout:g} s", sent=True))
            conn.close()

    handle = loop.call_later(timeout, expire)
    try:
        return await fut
    finally:
        handle.cancel()


async def ping(host: str, port: int, timeout: float = 2.0, uds: str | None = None) -> int | None:
    """GET /ping on a fresh connection; the status, or None when unreachable."""
    pool = UpstreamPool(host, port, max_idle=0, uds=uds)
    try:
        response = await pool.request("GET", "/ping", [], b"", timeout=timeout)
        return response.status
    except (UpstreamError, OSError):
        return None
    finally:
        pool.close()

