"""Type checks for records against a group's feature definitions, and event-time parsing.

Rules (SageMaker's): every feature named must be defined; the record identifier and the event time
must be present; Integral values are 64-bit integers, Fractional values finite numbers, String
anything; an event time is epoch seconds (Fractional) or ISO-8601 `yyyy-MM-dd'T'HH:mm:ssZ` /
`yyyy-MM-dd'T'HH:mm:ss.SSSZ` (String). Collections (List/Set/Vector) carry `ValueAsStringList`.
A violation raises `InvalidInput`, before anything is written.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import UTC, datetime

from kiln.core.errors import InvalidInput
from kiln.services.featurestore.models import (
    CollectionType,
    FeatureDefinition,
    FeatureGroup,
    FeatureType,
    ParsedRecord,
    Record,
    Value,
)

_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{3}))?Z$")
_INT = re.compile(r"^[+-]?\d+$")
_INT64 = (-(2**63), 2**63 - 1)


def parse_event_time(value: str, ftype: FeatureType) -> float:
    """Epoch seconds of an event-time value. Raises InvalidInput."""
    if ftype is FeatureType.STRING:
        m = _ISO.match(value)
        if not m:
            raise InvalidInput(f"Invalid value '{value}' for EventTime feature. Supported formats are "
                               "yyyy-MM-dd'T'HH:mm:ssZ and yyyy-MM-dd'T'HH:mm:ss.SSSZ.")  # unverified wording
        y, mo, d, h, mi, s, ms = m.groups()
        try:
            dt = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), int(ms or 0) * 1000, tzinfo=UTC)
        except ValueError as exc:
            raise InvalidInput(f"Invalid value '{value}' for EventTime feature: {exc}.") from exc
        return dt.timestamp()
    try:
        out = float(value)
    except ValueError as exc:
        raise InvalidInput(f"Invalid value '{value}' for EventTime feature of type {ftype.value}.") from exc
    if not math.isfinite(out) or (ftype is FeatureType.INTEGRAL and not _INT.match(value.strip())):
        raise InvalidInput(f"Invalid value '{value}' for EventTime feature of type {ftype.value}.")
    return out


def format_event_time(epoch: float) -> str:
    """The ISO-8601 form SageMaker uses for String event times (milliseconds, `Z`)."""
    dt = datetime.fromtimestamp(epoch, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def check_scalar(name: str, ftype: FeatureType, value: str) -> None:
    if ftype is FeatureType.INTEGRAL:
        if not _INT.match(value) or not (_INT64[0] <= int(value) <= _INT64[1]):
            raise InvalidInput(f"Invalid value '{value}' for feature '{name}' of type Integral.")  # unverified
    elif ftype is FeatureType.FRACTIONAL:
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            raise InvalidInput(f"Invalid value '{value}' for feature '{name}' of type Fractional.")  # unverified


def _check_value(feature: FeatureDefinition, value: Value) -> None:
    if feature.collection is None:
        if not isinstance(value, str):
            raise InvalidInput(f"Feature '{feature.name}' is not a collection type; use ValueAsString.")
        check_scalar(feature.name, feature.type, value)
        return
    if not isinstance(value, list):
        raise InvalidInput(f"Feature '{feature.name}' is a collection type; use ValueAsStringList.")
    for item in value:
        check_scalar(feature.name, feature.type, item)
    if feature.collection is CollectionType.SET and len(set(value)) != len(value):
        raise InvalidInput(f"Feature '{feature.name}' of collection type Set has duplicate values.")
    if feature.collection is CollectionType.VECTOR and len(value) != feature.vector_dimension:
        raise InvalidInput(f"Feature '{feature.name}' is a Vector of dimension {feature.vector_dimension}, "
                           f"got {len(value)} values.")


def parse_record(group: FeatureGroup, pairs: Iterable[tuple[str, Value | None]]) -> ParsedRecord:
    """Validate one record (name, value) pairs against `group`. Raises InvalidInput."""
    values: Record = {}
    features = group.feature_map
    for name, value in pairs:
        feature = features.get(name)
        if feature is None:
            raise InvalidInput(f"Feature '{name}' does not exist in feature group '{group.name}'.")  # unverified
        if name in values:
            raise InvalidInput(f"Feature '{name}' is specified more than once in the record.")
        if value is None:
            raise InvalidInput(f"Feature '{name}' has neither ValueAsString nor ValueAsStringList.")
        _check_value(feature, value)
        values[name] = value
    for required in (group.record_id_name, group.event_time_name):
        if required not in values:
            raise InvalidInput(f"The record is missing the required feature '{required}'.")  # unverified
    record_id = values[group.record_id_name]
    event = values[group.event_time_name]
    if not isinstance(record_id, str) or not isinstance(event, str):
        raise InvalidInput("The record identifier and event time must be scalar values.")
    return ParsedRecord(values, record_id, parse_event_time(event, group.event_time_type))
