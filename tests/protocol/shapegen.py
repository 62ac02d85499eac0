"""Deterministic example values for botocore shapes: every member filled, every constraint honoured.

`example(shape)` walks a shape the way botocore's own serializers do and returns a value that
satisfies `min`/`max` (lengths and ranges), `enum` and `pattern` (a string is generated from the
regular expression itself), with timestamps, blobs, nested lists and maps, unions (one member)
and documents. Recursion stops at a fixed depth by leaving optional recursive members out.
The same shape always yields the same value, so failures reproduce.
"""

from __future__ import annotations

import random
import re
import zlib
from datetime import UTC, datetime
from functools import cache
from typing import Any

from botocore.model import Shape

try:  # Python 3.11+: the parser lives in re._parser; keep the old name working too
    from re import _parser as sre_parse  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover
    import sre_parse  # type: ignore[no-redef]

TIMESTAMP = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
BLOB = b"kiln\x00\xffblob"
DOCUMENT = {"name": "kiln", "values": [1, 2.5, True, None, "x"], "nested": {"k": "v"}}
MAX_DEPTH = 6
_MAXREPEAT = sre_parse.MAXREPEAT


class Options:
    """Knobs for a walk: where the value will travel constrains which characters are safe."""

    def __init__(self, *, header_safe: bool = False, lower_keys: bool = False,
                 required_only: bool = False) -> None:
        self.header_safe = header_safe
        self.lower_keys = lower_keys
        self.required_only = required_only  # the smallest valid value: optional members left out


def _seed(path: str) -> int:
    return zlib.crc32(path.encode())


def example(shape: Shape, path: str = "input", depth: int = 0, opts: Options | None = None) -> Any:
    opts = opts or Options()
    kind = shape.type_name
    if kind == "structure":
        return _structure(shape, path, depth, opts)
    if kind == "list":
        n = _count(shape.metadata, 2)
        return [example(shape.member, f"{path}.{i}", depth + 1, opts) for i in range(n)]
    if kind == "map":
        n = _count(shape.metadata, 2)
        out: dict[str, Any] = {}
        for i in range(n * 4):
            if len(out) == n:
                break
            key = example(shape.key, f"{path}.key{i}", depth + 1, opts)
            if opts.lower_keys:
                key = key.lower()
            out.setdefault(key, example(shape.value, f"{path}.value{i}", depth + 1, opts))
        return out
    if kind == "string":
        return string_for(shape, path, opts)
    if kind in ("integer", "long"):
        return _number(shape.metadata, 7 + _seed(path) % 5)
    if kind in ("float", "double"):
        return float(_number(shape.metadata, 2.5))
    if kind == "boolean":
        return _seed(path) % 2 == 0
    if kind == "timestamp":
        return TIMESTAMP
    if kind == "blob":
        return _blob(shape.metadata)
    if kind == "document" or shape.metadata.get("document"):
        return dict(DOCUMENT)
    raise AssertionError(f"no example for {kind} at {path}")


def _structure(shape: Shape, path: str, depth: int, opts: Options) -> dict[str, Any] | None:
    if shape.metadata.get("document"):
        return dict(DOCUMENT)
    members = shape.members
    required = set(shape.required_members)
    if shape.is_tagged_union:
        names = list(members)
        if not names:
            return {}
        # a union member that does not recurse, chosen by path so different unions vary
        ordered = names[_seed(path) % len(names):] + names[: _seed(path) % len(names)]
        for name in ordered:
            value = example(members[name], f"{path}.{name}", depth + 1, opts)
            if value is not None:
                return {name: value}
        return {}
    out: dict[str, Any] = {}
    for name, member in members.items():
        if (depth >= MAX_DEPTH or opts.required_only) and name not in required:
            continue
        if depth >= MAX_DEPTH + 14:
            continue
        value = example(member, f"{path}.{name}", depth + 1, _for_location(member, opts))
        if value is not None:
            out[name] = value
    return out


def _for_location(member: Shape, opts: Options) -> Options:
    location = member.serialization.get("location")
    if location == "header":
        return Options(header_safe=True, lower_keys=opts.lower_keys, required_only=opts.required_only)
    if location == "headers":  # a header-name prefix map: HTTP lower-cases the names
        return Options(header_safe=True, lower_keys=True, required_only=opts.required_only)
    return opts


def _count(meta: dict[str, Any], want: int) -> int:
    lo = int(meta.get("min", 0))
    hi = int(meta.get("max", want))
    return max(lo, min(hi, want))


def _number(meta: dict[str, Any], want: float) -> Any:
    lo = meta.get("min")
    hi = meta.get("max")
    value = want
    if lo is not None and value < lo:
        value = lo
    if hi is not None and value > hi:
        value = hi
    return value


def _blob(meta: dict[str, Any]) -> bytes:
    n = _count(meta, len(BLOB))
    return (BLOB * (n // len(BLOB) + 1))[:n]


def string_for(shape: Shape, path: str, opts: Options | None = None) -> str:
    opts = opts or Options()
    meta = shape.metadata
    enum = meta.get("enum")
    if enum:
        return str(enum[_seed(path) % len(enum)])
    lo = int(meta.get("min", 0))
    hi = int(meta.get("max", 64))
    pattern = meta.get("pattern")
    if pattern:
        text = from_pattern(pattern, lo, hi, _seed(path), opts.header_safe)
        if text is not None:
            return text
    base = "kiln-" + format(_seed(path), "x")
    if not opts.header_safe and lo == 0 and hi >= 40:
        base += " , spaced/€ <&>\"'"  # travels through URIs, query strings, JSON and XML escaping
    lo = max(lo, 1)
    return (base * (lo // len(base) + 1))[: max(lo, min(hi, len(base)))]


def from_pattern(pattern: str, lo: int, hi: int, seed: int = 0, header_safe: bool = False) -> str | None:
    """A string that fully matches `pattern` with length in [lo, hi], or None if none is found.

    Prefers a length near 12 (so values are not all trivially short) and varies its character
    choices with `seed` (so map keys differ).
    """
    compiled, parsed = _compile(pattern)
    if parsed is None:
        return None
    target = max(lo, min(hi, 12))
    fallback = None
    for extra in range(200):
        rng = random.Random(seed * 7919 + extra)
        try:
            text = _emit(parsed, extra // 2, rng, header_safe)
        except _Unsupported:
            return None
        if len(text) > hi and extra > 8:
            break
        if lo <= len(text) <= hi and compiled.fullmatch(text):
            if len(text) >= target:
                return text
            fallback = fallback or text
    return fallback


@cache
def _compile(pattern: str) -> tuple[re.Pattern[str] | None, Any]:
    try:
        return re.compile(pattern, re.DOTALL), sre_parse.parse(pattern)
    except (re.error, RecursionError):
        return None, None


class _Unsupported(Exception):
    pass


_SAFE = "abcdefghijklmnopqrstuvwxyz0123456789"
_ANY = _SAFE + "ABCXYZ-_ ./,&=+%€<>"
_ANY_HEADER = _SAFE + "ABCXYZ-_./"


def _pick_in(items: list[tuple[Any, Any]], rng: random.Random) -> str:
    negate = any(op == sre_parse.NEGATE for op, _ in items)
    allowed: list[str] = []
    banned: set[str] = set()
    for op, arg in items:
        if op == sre_parse.LITERAL:
            (banned.add if negate else allowed.append)(chr(arg))
        elif op == sre_parse.RANGE:
            lo, hi = arg
            chars = [chr(c) for c in range(lo, min(hi, lo + 200) + 1)]
            if negate:
                banned.update(chars)
            else:
                allowed.extend(chars)
        elif op == sre_parse.CATEGORY:
            sample = _category(arg)
            if negate:
                banned.update(sample)
            else:
                allowed.extend(sample)
        elif op == sre_parse.NEGATE:
            continue
        else:
            raise _Unsupported(op)
    if negate:
        options = [c for c in _SAFE + "-_.:/" if c not in banned]
        if not options:
            raise _Unsupported("negated set")
        return rng.choice(options)
    if not allowed:
        raise _Unsupported("empty set")
    printable = [c for c in allowed if c.isprintable() and c.isascii() and c != " "]
    return rng.choice(printable or allowed)


def _category(cat: Any) -> str:
    name = str(cat).rsplit("_", 1)[-1].lower()
    if "NOT" in str(cat):
        return {"digit": "a", "word": "-", "space": "a"}.get(name, "a")
    return {"digit": "0123456789", "word": "abcXYZ_09", "space": " "}.get(name, "a")


def _emit(parsed: Any, extra: int, rng: random.Random, header_safe: bool) -> str:
    out: list[str] = []
    for op, arg in parsed:
        if op == sre_parse.LITERAL:
            out.append(chr(arg))
        elif op == sre_parse.NOT_LITERAL:
            out.append("a" if chr(arg) != "a" else "b")
        elif op == sre_parse.ANY:
            out.append(rng.choice(_ANY_HEADER if header_safe else _ANY))
        elif op == sre_parse.IN:
            out.append(_pick_in(arg, rng))
        elif op == sre_parse.CATEGORY:
            out.append(rng.choice(_category(arg)))
        elif op in (sre_parse.MAX_REPEAT, sre_parse.MIN_REPEAT, getattr(sre_parse, "POSSESSIVE_REPEAT", -1)):
            lo, hi, sub = arg
            hi = lo + 1000 if hi == _MAXREPEAT else hi
            n = min(hi, lo + extra)
            out.extend(_emit(sub, extra, rng, header_safe) for _ in range(n))
        elif op == sre_parse.SUBPATTERN:
            out.append(_emit(arg[-1], extra, rng, header_safe))
        elif op == getattr(sre_parse, "ATOMIC_GROUP", -1):
            out.append(_emit(arg, extra, rng, header_safe))
        elif op == sre_parse.BRANCH:
            out.append(_emit(rng.choice(arg[1]), extra, rng, header_safe))
        elif op in (sre_parse.AT, sre_parse.ASSERT, sre_parse.ASSERT_NOT):
            continue  # anchors and lookarounds: the final fullmatch check decides
        else:
            raise _Unsupported(op)
    return "".join(out)
