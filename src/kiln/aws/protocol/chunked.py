"""`aws-chunked` request bodies (SigV4 streaming uploads, flexible-checksum trailers).

Wire format: `<hex size>[;chunk-signature=<sig>]\\r\\n<data>\\r\\n` repeated, a zero-size chunk, then
optional trailer lines `name:value\\r\\n` and a final `\\r\\n`. Signatures are not verified (Kiln
accepts any credentials); trailing checksums are collected in `trailers` for the handler to verify.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from kiln.aws.protocol.common import ProtocolError


def is_aws_chunked(headers: dict[str, str] | object) -> bool:
    get = headers.get  # type: ignore[attr-defined]
    sha = get("x-amz-content-sha256", "") or ""
    enc = get("content-encoding", "") or ""
    return sha.startswith("STREAMING-") or "aws-chunked" in enc


class ChunkedDecoder:
    """Wraps a raw body stream; iterating it yields the decoded payload bytes."""

    def __init__(self, raw: AsyncIterator[bytes]) -> None:
        self._raw = raw
        self._buf = bytearray()
        self.trailers: dict[str, str] = {}

    async def _fill(self) -> bool:
        try:
            chunk = await self._raw.__anext__()
        except StopAsyncIteration:
            return False
        self._buf += chunk
        return True

    async def _line(self) -> bytes:
        while True:
            i = self._buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self._buf[:i])
                del self._buf[: i + 2]
                return line
            if not await self._fill():
                raise ProtocolError("Truncated aws-chunked body.")

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[bytes]:
        while True:
            header = await self._line()
            try:
                size = int(header.split(b";", 1)[0].strip() or b"0", 16)
            except ValueError as exc:
                raise ProtocolError("Malformed aws-chunked chunk header.") from exc
            if size == 0:
                break
            remaining = size
            while remaining:
                if not self._buf and not await self._fill():
                    raise ProtocolError("Truncated aws-chunked body.")
                take = bytes(self._buf[:remaining])
                del self._buf[: len(take)]
                remaining -= len(take)
                yield take
            if await self._line() != b"":
                raise ProtocolError("Malformed aws-chunked body: chunk not followed by CRLF.")
        while True:
            try:
                line = await self._line()
            except ProtocolError:
                break
            if not line:
                break
            name, _, value = line.decode("latin-1").partition(":")
            self.trailers[name.strip().lower()] = value.strip()
