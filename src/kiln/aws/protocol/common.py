"""The protocol-neutral HTTP request/response the codecs read and write, and the codec interface."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.model import OperationModel, ServiceModel

from kiln.aws.context import RequestContext
from kiln.aws.errors import AwsError

Body = bytes | Iterable[bytes] | AsyncIterable[bytes]


class ProtocolError(AwsError):
    """The client sent something the model cannot describe (malformed body, wrong type)."""

    code = "SerializationException"


class Headers(dict[str, str]):
    """Request headers by lower-case name; lookups ignore case. Repeated headers are joined with ","."""

    __slots__ = ()

    @classmethod
    def from_asgi(cls, raw: Iterable[tuple[bytes, bytes]]) -> Headers:
        out = cls()
        for k, v in raw:
            name, value = k.decode("latin-1").lower(), v.decode("latin-1")
            prior = dict.get(out, name)
            dict.__setitem__(out, name, value if prior is None else f"{prior},{value}")
        return out

    def __getitem__(self, key: str) -> str:
        return dict.__getitem__(self, key.lower())

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return dict.get(self, key.lower(), default)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and dict.__contains__(self, key.lower())


def text_body(body: bytes) -> str:
    """A `string` payload: the body as UTF-8 text."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError("The request body is not valid UTF-8.") from exc


@dataclass(slots=True)
class HttpRequest:
    method: str
    path: str  # percent-encoded, as sent
    query: list[tuple[str, str]]  # decoded pairs, in order
    headers: Mapping[str, str]  # case-insensitive mapping
    body: bytes = b""
    stream: AsyncIterator[bytes] | None = None  # set instead of `body` for streaming payloads
    labels: dict[str, str] = field(default_factory=dict)  # URI labels, filled in by REST routing
    sent_path: str | None = None  # the path as sent when routing moved a virtual-host bucket into `path`

    def query_dict(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for k, v in self.query:
            out.setdefault(k, []).append(v)
        return out


@dataclass(slots=True)
class HttpResponse:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: Body = b""


class Codec(ABC):
    """One wire protocol. Stateless; one instance serves every service that uses the protocol."""

    routes_by_body: bool = False  # the operation is named inside the body (query's `Action`)

    @abstractmethod
    def find_operation(self, service: ServiceModel, request: HttpRequest) -> OperationModel:
        """Which operation the request names. Raises an AwsError when none matches."""

    def streams_input(self, operation: OperationModel) -> bool:
        """True when the request body should be handed to the handler as a stream, unread."""
        return False

    @abstractmethod
    def parse(self, operation: OperationModel, request: HttpRequest) -> dict[str, Any]:
        """The request's parameters, keyed by the model's member names."""

    @abstractmethod
    def serialize(self, operation: OperationModel, result: Mapping[str, Any] | None,
                  ctx: RequestContext) -> HttpResponse:
        """A handler's result dict as the wire response."""

    @abstractmethod
    def serialize_error(self, service: ServiceModel, operation: OperationModel | None, err: AwsError,
                        ctx: RequestContext) -> HttpResponse:
        """An error in the protocol's exact wire format."""
