"""Scalar conversions every protocol shares: text <-> typed values, timestamps in each wire format."""

from __future__ import annotations

import base64
import binascii
import math
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from botocore.model import Shape

from kiln.aws.protocol.common import ProtocolError

_ISO_FORMATS = ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%f%z",
                "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d")


def parse_timestamp(value: Any) -> datetime:
    """Accept epoch seconds (number or numeric text), ISO 8601 or RFC 822."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError(value)
        return datetime.fromtimestamp(float(value), tz=UTC)
    text = str(value).strip()
    try:
        return datetime.fromtimestamp(float(text), tz=UTC)
    except ValueError:
        pass
    for fmt in _ISO_FORMATS:
        try:
            dt = datetime.strptime(text, fmt)
            return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
        except ValueError:
            continue
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    except ValueError:
        pass
    return parsedate_to_datetime(text)


def to_datetime(value: Any) -> datetime:
    """Handlers may return datetimes or epoch seconds; the codecs want datetimes."""
    return parse_timestamp(value)


def format_timestamp(value: Any, fmt: str) -> Any:
    dt = to_datetime(value)
    if fmt == "unixtimestamp":
        return round(dt.timestamp(), 3)
    if fmt == "rfc822":
        return format_datetime(dt.astimezone(UTC), usegmt=True)
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def from_text(shape: Shape, text: str, where: str) -> Any:
    """A scalar sent as text (URI label, query string, header, XML element) as its typed value."""
    kind = shape.type_name
    try:
        match kind:
            case "string":
                return text
            case "integer" | "long":
                return int(text)
            case "float" | "double":
                return float(text)
            case "boolean":
                low = text.strip().lower()
                if low not in ("true", "false"):
                    raise ValueError(text)
                return low == "true"
            case "timestamp":
                return parse_timestamp(text)
            case "blob":
                return base64.b64decode(text, validate=True)
            case _:
                return text
    except (ValueError, TypeError, binascii.Error, OverflowError) as exc:
        raise ProtocolError(f"Value '{text}' at '{where}' is not a valid {kind}.") from exc


def to_text(shape: Shape, value: Any, timestamp_format: str = "iso8601") -> str:
    """A typed scalar as text for headers, query strings and XML."""
    kind = shape.type_name
    if kind == "boolean":
        return "true" if value else "false"
    if kind == "timestamp":
        return str(format_timestamp(value, shape.serialization.get("timestampFormat", timestamp_format)))
    if kind == "blob":
        raw = value.encode() if isinstance(value, str) else bytes(value)
        return base64.b64encode(raw).decode()
    if kind in ("float", "double"):
        f = float(value)
        return str(int(f)) if f.is_integer() and abs(f) < 1e16 else repr(f)
    return str(value)


def lower_camel(name: str) -> str:
    return name[:1].lower() + name[1:]
