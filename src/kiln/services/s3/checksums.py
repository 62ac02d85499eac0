"""Digests of object bytes: MD5 (the ETag) and S3's flexible checksums, computed while writing.

Algorithms are named as S3 names them (CRC32, CRC32C, SHA1, SHA256, ...). Values travel as base64 of
the digest bytes (CRC values big-endian, 4 bytes). CRC32C needs the `crc32c` or `google-crc32c`
package; without one, asking for it raises `UnsupportedChecksum` and nothing else is affected.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import zlib
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from kiln.services.s3.models import DigestMismatch, InvalidDigest, UnsupportedChecksum

# Algorithms S3's model knows, in the order clients prefer them.
KNOWN = ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256", "SHA512", "MD5", "XXHASH64", "XXHASH3",
         "XXHASH128")


class Digest(Protocol):
    def update(self, data: bytes | bytearray | memoryview, /) -> None: ...

    def digest(self) -> bytes: ...


class _Crc:
    """A CRC as a hashlib-like object."""

    def __init__(self, fn: Callable[[Any, int], int]) -> None:
        self._fn = fn
        self._value = 0

    def update(self, data: bytes | bytearray | memoryview, /) -> None:
        self._value = self._fn(data, self._value)

    def digest(self) -> bytes:
        return (self._value & 0xFFFFFFFF).to_bytes(4, "big")


def _crc32c_fn() -> Callable[[Any, int], int] | None:
    try:
        import crc32c  # type: ignore[import-not-found]

        return lambda data, value: int(crc32c.crc32c(data, value))
    except ImportError:
        pass
    try:
        import google_crc32c  # type: ignore[import-not-found]

        return lambda data, value: int(google_crc32c.extend(value, bytes(data)))
    except ImportError:
        return None


_CRC32C = _crc32c_fn()


def supported(algorithm: str) -> bool:
    return algorithm in ("CRC32", "SHA1", "SHA256", "SHA512", "MD5") or (
        algorithm == "CRC32C" and _CRC32C is not None)


def new(algorithm: str) -> Digest:
    """A fresh digest object for an S3 algorithm name.

    Raises:
        UnsupportedChecksum: the algorithm exists in S3 but this installation cannot compute it.
    """
    match algorithm:
        case "CRC32":
            return _Crc(zlib.crc32)
        case "CRC32C" if _CRC32C is not None:
            return _Crc(_CRC32C)
        case "SHA1" | "SHA256" | "SHA512" | "MD5":
            return hashlib.new(algorithm.lower())
    hint = " Install the 'crc32c' package to enable it." if algorithm == "CRC32C" else ""
    raise UnsupportedChecksum(algorithm, f"Kiln does not support the {algorithm} checksum algorithm.{hint}")


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


_LENGTHS = {"CRC32": 4, "CRC32C": 4, "SHA1": 20, "SHA256": 32, "SHA512": 64, "MD5": 16}


def decode_declared(algorithm: str, value: str) -> bytes:
    """A client-declared checksum as raw bytes.

    Raises:
        InvalidDigest: not base64, or the wrong length for the algorithm.
    """
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidDigest(algorithm, f"Value for x-amz-checksum-{algorithm.lower()} header is invalid.") \
            from exc
    want = _LENGTHS.get(algorithm)
    if want is not None and len(raw) != want:
        raise InvalidDigest(algorithm, f"Value for x-amz-checksum-{algorithm.lower()} header is invalid.")
    return raw


def decode_content_md5(value: str) -> bytes:
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidDigest("MD5", "The Content-MD5 you specified was invalid.") from exc
    if len(raw) != 16:
        raise InvalidDigest("MD5", "The Content-MD5 you specified was invalid.")
    return raw


class BodyDigests:
    """Every digest a write needs, fed once per chunk. MD5 is always computed (it is the ETag)."""

    def __init__(self, algorithms: Iterable[str] = (), *, sha256_payload: bool = False) -> None:
        self.md5 = hashlib.md5()
        self.extra: dict[str, Digest] = {a: new(a) for a in dict.fromkeys(algorithms)}
        self.payload_sha256 = hashlib.sha256() if sha256_payload and "SHA256" not in self.extra else None
        self.size = 0

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self.md5.update(data)
        for d in self.extra.values():
            d.update(data)
        if self.payload_sha256 is not None:
            self.payload_sha256.update(data)
        self.size += len(data)

    def results(self) -> dict[str, bytes]:
        return {a: d.digest() for a, d in self.extra.items()}

    def sha256_hex(self) -> str | None:
        if self.payload_sha256 is not None:
            return self.payload_sha256.hexdigest()
        sha = self.extra.get("SHA256")
        return sha.digest().hex() if sha is not None else None


def verify(computed: dict[str, bytes], md5: bytes, *, content_md5: str | None,
           declared: dict[str, str], payload_sha256: tuple[str, str | None] | None = None) -> dict[str, str]:
    """Check what the client declared against what was computed; return the checksums to store.

    Args:
        computed: algorithm -> raw digest of the body.
        md5: raw MD5 of the body.
        content_md5: the Content-MD5 header, if sent.
        declared: algorithm -> base64 value the client sent (header or trailer).
        payload_sha256: (declared hex, computed hex) of x-amz-content-sha256, if it names a digest.

    Raises:
        InvalidDigest, DigestMismatch.
    """
    if content_md5 is not None and decode_content_md5(content_md5) != md5:
        raise DigestMismatch("MD5", "The Content-MD5 you specified did not match what we received.")
    out: dict[str, str] = {}
    for algorithm, value in declared.items():
        raw = decode_declared(algorithm, value)
        if computed.get(algorithm) != raw:
            raise DigestMismatch(algorithm, f"The {algorithm} you specified did not match the calculated "
                                            "checksum.")
        out[algorithm] = b64(raw)
    for algorithm, raw in computed.items():
        out.setdefault(algorithm, b64(raw))
    if payload_sha256 is not None:
        want, got = payload_sha256
        if got is not None and want.lower() != got:
            raise DigestMismatch("SHA256-PAYLOAD", "The provided 'x-amz-content-sha256' header does not "
                                                   "match what was computed.")
    return out


def composite(algorithm: str, part_values: list[str]) -> str:
    """S3's COMPOSITE multipart checksum: the digest of the parts' raw digests, then `-<parts>`."""
    d = new(algorithm)
    for value in part_values:
        d.update(base64.b64decode(value))
    return f"{b64(d.digest())}-{len(part_values)}"
