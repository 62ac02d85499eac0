"""Content types in and out of a model: the SageMaker inference toolkit's decoder and encoder.

Mirrors `sagemaker_inference.decoder` / `encoder` (reference §6.2): JSON, CSV and NPY to and from
numpy arrays; `UTF8_TYPES` are decoded to `str` before a handler's `input_fn` sees them. numpy is
imported lazily so a model server whose handlers never use these pays nothing for them.
"""

from __future__ import annotations

import io
import json
from typing import Any

JSON = "application/json"
CSV = "text/csv"
NPY = "application/x-npy"
NPZ = "application/x-npz"
OCTET_STREAM = "application/octet-stream"
JSONLINES = "application/jsonlines"
LIBSVM = "text/libsvm"
UTF8_TYPES = (JSON, CSV)


class UnsupportedFormatError(Exception):
    """The toolkit's 415: no decoder/encoder for the content type."""

    status = 415

    def __init__(self, content_type: str) -> None:
        super().__init__(f"Content type {content_type} is not supported by this framework.\n\n"
                         f"Please implement input_fn to to deserialize the request data or an output_fn to\n"
                         f"serialize the response. For more information, see the SageMaker Python SDK README.")
        self.content_type = content_type


def base_type(content_type: str | None) -> str:
    """`text/csv; charset=utf-8` -> `text/csv` (lower-cased, parameters dropped)."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def parse_accept(accept: str) -> list[str]:
    """An Accept header's media types, in order (`a, b;q=0.5` -> [a, b])."""
    return [base_type(part) for part in accept.split(",") if part.strip()]


def _np() -> Any:
    import numpy

    return numpy


def decode(data: Any, content_type: str) -> Any:
    """Request data (bytes or str) -> numpy array. Raises UnsupportedFormatError."""
    np = _np()
    kind = base_type(content_type)
    if kind == JSON:
        return np.array(json.loads(data))
    if kind == CSV:
        text = data.decode("utf-8") if isinstance(data, bytes | bytearray) else data
        return np.genfromtxt(io.StringIO(text), delimiter=",")
    if kind == NPY:
        raw = data.encode("latin-1") if isinstance(data, str) else bytes(data)
        return np.load(io.BytesIO(raw), allow_pickle=True)
    if kind == NPZ:
        import scipy.sparse

        raw = data.encode("latin-1") if isinstance(data, str) else bytes(data)
        return scipy.sparse.load_npz(io.BytesIO(raw))
    raise UnsupportedFormatError(content_type)


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def encode(array_like: Any, content_type: str) -> bytes:
    """numpy array / list / scalar -> bytes in `content_type`. Raises UnsupportedFormatError."""
    kind = base_type(content_type)
    if kind == JSON:
        return json.dumps(array_like, default=_json_default).encode()
    if kind == CSV:
        np = _np()
        stream = io.StringIO()
        np.savetxt(stream, np.atleast_1d(np.asarray(array_like)), delimiter=",", fmt="%s")
        return stream.getvalue().encode()
    if kind == NPY:
        np = _np()
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(array_like), allow_pickle=True)
        return buffer.getvalue()
    raise UnsupportedFormatError(content_type)


SUPPORTED_ENCODINGS = (JSON, CSV, NPY)


def encode_for_accept(prediction: Any, accept: str) -> tuple[bytes, str]:
    """Encode in the first type of `accept` the encoder supports (the toolkits' default output_fn)."""
    for kind in parse_accept(accept):
        if kind in SUPPORTED_ENCODINGS:
            return encode(prediction, kind), kind
    raise UnsupportedFormatError(accept)
