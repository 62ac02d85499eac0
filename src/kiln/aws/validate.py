"""Request validation from the model: required members, lengths, ranges, enums and patterns.

Messages follow AWS's (Coral's) format, e.g.
`1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy constraint:
Member must have value less than or equal to 1024`. Member paths use lowerCamelCase; list items
of structures are `tags.1.member.key`. Constraints on the scalar items of a list or on the keys and
values of a map are reported once for the collection, the way AWS does
(`Value '[a, b]' at 'subnets' failed to satisfy constraint: Member must satisfy constraint:
[Member must have length less than or equal to 32]`).  # unverified: the list/map wording
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from botocore.model import Shape

from kiln.aws.protocol.shapes import lower_camel

_SCALARS = ("string", "integer", "long", "float", "double", "blob", "boolean", "timestamp")


@lru_cache(maxsize=4096)
def _pattern(text: str) -> re.Pattern[str] | None:
    try:
        return re.compile(text, re.DOTALL)
    except re.error:
        return None  # a Java-only construct (\p{...}); skip rather than reject valid input


def show(value: Any) -> str:
    """A value as Java's toString would print it inside AWS messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, bytes | bytearray):
        return f"java.nio.HeapByteBuffer[pos=0 lim={len(value)} cap={len(value)}]"
    if isinstance(value, list):
        return "[" + ", ".join(show(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{show(k)}={show(v)}" for k, v in value.items()) + "}"
    return str(value)


def collect(shape: Shape | None, value: Any, path: str = "", out: list[str] | None = None) -> list[str]:
    """All constraint violations in `value`, as AWS-style clauses, in member order."""
    out = [] if out is None else out
    if shape is None or value is None:
        return out
    kind = shape.type_name
    if kind == "structure":
        if isinstance(value, dict) and not shape.metadata.get("document"):
            _structure(shape, value, path, out)
        return out
    where = path or "input"
    if kind == "list" and isinstance(value, list):
        _clauses_to(out, value, where, _own(shape, value))
        if shape.member.type_name in _SCALARS:
            inner = _first_item_clauses(shape.member, value)
            if inner:
                _clauses_to(out, value, where, [f"Member must satisfy constraint: [{', '.join(inner)}]"])
        else:
            for i, item in enumerate(value):
                collect(shape.member, item, f"{where}.{i + 1}.member", out)
        return out
    if kind == "map" and isinstance(value, dict):
        _clauses_to(out, value, where, _own(shape, value))
        keys = _first_item_clauses(shape.key, list(value))
        if keys:
            _clauses_to(out, value, where, [f"Map keys must satisfy constraint: [{', '.join(keys)}]"])
        if shape.value.type_name in _SCALARS:
            values = _first_item_clauses(shape.value, list(value.values()))
            if values:
                _clauses_to(out, value, where, [f"Map value must satisfy constraint: [{', '.join(values)}]"])
        else:
            for k, item in value.items():
                collect(shape.value, item, f"{where}.{k}", out)
        return out
    _clauses_to(out, value, where, _own(shape, value))
    return out


def _structure(shape: Shape, value: dict[str, Any], path: str, out: list[str]) -> None:
    members = shape.members
    for name in shape.required_members:
        if value.get(name) is None:
            where = f"{path}.{lower_camel(name)}" if path else lower_camel(name)
            out.append(f"Value null at '{where}' failed to satisfy constraint: Member must not be null")
    for name, item in value.items():  # only what was sent: most members of most requests are absent
        member = members.get(name)
        if member is not None and item is not None and _constrained(member):
            collect(member, item, f"{path}.{lower_camel(name)}" if path else lower_camel(name), out)


def _constrained(shape: Shape) -> bool:
    """False for shapes that can hold no violation (a bare boolean, timestamp or unconstrained string)."""
    if shape.type_name in ("structure", "list", "map"):
        return True
    meta = shape.metadata
    return bool(meta.get("min") is not None or meta.get("max") is not None or meta.get("enum")
                or meta.get("pattern"))


def _clauses_to(out: list[str], value: Any, where: str, clauses: list[str]) -> None:
    out.extend(f"Value '{show(value)}' at '{where}' failed to satisfy constraint: {c}" for c in clauses)


def _first_item_clauses(shape: Shape, items: list[Any]) -> list[str]:
    """The clauses the first offending item of a scalar collection breaks."""
    for item in items:
        clauses = _own(shape, item)
        if clauses:
            return clauses
    return []


def _own(shape: Shape, value: Any) -> list[str]:
    """The constraints of `shape` itself (not of its members) that `value` breaks."""
    meta = shape.metadata
    kind = shape.type_name
    clauses: list[str] = []
    if kind in ("string", "list", "map", "blob") and isinstance(value, str | list | dict | bytes | bytearray):
        n = len(value)
        if "min" in meta and n < meta["min"]:
            clauses.append(f"Member must have length greater than or equal to {meta['min']}")
        if "max" in meta and n > meta["max"]:
            clauses.append(f"Member must have length less than or equal to {meta['max']}")
    if kind == "string" and isinstance(value, str):
        enum = meta.get("enum")
        if enum and value not in enum:
            clauses.append(f"Member must satisfy enum value set: [{', '.join(enum)}]")
        pattern = meta.get("pattern")
        if pattern and (compiled := _pattern(pattern)) is not None and not compiled.fullmatch(value):
            clauses.append(f"Member must satisfy regular expression pattern: {pattern}")
    elif kind in ("integer", "long", "float", "double") and isinstance(value, int | float) \
            and not isinstance(value, bool):
        if "min" in meta and value < meta["min"]:
            clauses.append(f"Member must have value greater than or equal to {meta['min']}")
        if "max" in meta and value > meta["max"]:
            clauses.append(f"Member must have value less than or equal to {meta['max']}")
    return clauses


def message(violations: list[str]) -> str:
    n = len(violations)
    return f"{n} validation error{'s' if n != 1 else ''} detected: " + "; ".join(violations)
