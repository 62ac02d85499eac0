"""Request validation from the model: required members, lengths, ranges, enums and patterns.

Messages follow AWS's format, e.g.
`1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy constraint:
Member must have value less than or equal to 1024`. Member paths use lowerCamelCase.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from botocore.model import Shape

from kiln.aws.protocol.shapes import lower_camel


@lru_cache(maxsize=4096)
def _pattern(text: str) -> re.Pattern[str] | None:
    try:
        return re.compile(text, re.DOTALL)
    except re.error:
        return None  # a Java-only construct; skip rather than reject valid input


def _show(value: Any) -> str:
    if isinstance(value, str | int | float):
        return f"'{value}'"
    if isinstance(value, dict | list):
        return "'[...]'" if isinstance(value, list) else "'{...}'"
    return f"'{value}'"


def collect(shape: Shape | None, value: Any, path: str = "", out: list[str] | None = None) -> list[str]:
    """All constraint violations in `value`, as AWS-style clauses."""
    out = [] if out is None else out
    if shape is None:
        return out
    meta = shape.metadata
    where = path or "input"
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        for name in shape.required_members:
            if value.get(name) is None:
                out.append(f"Value null at '{_join(path, name)}' failed to satisfy constraint: "
                           "Member must not be null")
        for name, member in shape.members.items():
            item = value.get(name)
            if item is not None:
                collect(member, item, _join(path, name), out)
        return out
    if kind == "list" and isinstance(value, list):
        _length(meta, len(value), value, where, out)
        for i, item in enumerate(value):
            collect(shape.member, item, f"{where}.{i + 1}.member", out)
        return out
    if kind == "map" and isinstance(value, dict):
        _length(meta, len(value), value, where, out)
        for k, item in value.items():
            collect(shape.key, k, f"{where}.key", out)
            collect(shape.value, item, f"{where}.{k}", out)
        return out
    if kind == "string" and isinstance(value, str):
        _length(meta, len(value), value, where, out)
        enum = meta.get("enum")
        if enum and value not in enum:
            out.append(f"Value {_show(value)} at '{where}' failed to satisfy constraint: "
                       f"Member must satisfy enum value set: [{', '.join(enum)}]")
        pattern = meta.get("pattern")
        if pattern and (compiled := _pattern(pattern)) is not None and not compiled.fullmatch(value):
            out.append(f"Value {_show(value)} at '{where}' failed to satisfy constraint: "
                       f"Member must satisfy regular expression pattern: {pattern}")
        return out
    if kind in ("integer", "long", "float", "double") and isinstance(value, int | float):
        if "min" in meta and value < meta["min"]:
            out.append(f"Value {_show(value)} at '{where}' failed to satisfy constraint: "
                       f"Member must have value greater than or equal to {meta['min']}")
        if "max" in meta and value > meta["max"]:
            out.append(f"Value {_show(value)} at '{where}' failed to satisfy constraint: "
                       f"Member must have value less than or equal to {meta['max']}")
        return out
    if kind == "blob" and isinstance(value, bytes | bytearray):
        _length(meta, len(value), "<blob>", where, out)
    return out


def _length(meta: dict[str, Any], n: int, value: Any, where: str, out: list[str]) -> None:
    if "min" in meta and n < meta["min"]:
        out.append(f"Value {_show(value)} at '{where}' failed to satisfy constraint: "
                   f"Member must have length greater than or equal to {meta['min']}")
    if "max" in meta and n > meta["max"]:
        out.append(f"Value {_show(value)} at '{where}' failed to satisfy constraint: "
                   f"Member must have length less than or equal to {meta['max']}")


def _join(path: str, name: str) -> str:
    return f"{path}.{lower_camel(name)}" if path else lower_camel(name)


def message(violations: list[str]) -> str:
    n = len(violations)
    return f"{n} validation error{'s' if n != 1 else ''} detected: " + "; ".join(violations)
