"""S3 listing semantics over a sorted key source: prefix, delimiter roll-up, markers, page size.

`page()` needs one thing from storage: `fetch(lower, inclusive, prefix, limit)`, the next `limit`
objects whose key starts with `prefix` and sorts after `lower` (or at it, when `inclusive`), in
key order. Keys sort by code point, which is UTF-8 byte order, which is S3's order.

When a key rolls up into a common prefix, the scan skips every other key under that prefix with
one new `fetch` from the prefix's successor (a skip-scan), so listing a "directory" with millions
of files below its subdirectories costs one query per subdirectory, not one row per file.
"""

from __future__ import annotations

from collections.abc import Callable

from kiln.services.s3.models import ListPage, ObjectInfo

Fetch = Callable[[str | None, bool, str, int], list[ObjectInfo]]

_MAX_CODE_POINT = 0x10FFFF


def successor(prefix: str) -> str | None:
    """The smallest string greater than every string that starts with `prefix` (None: no such string)."""
    chars = list(prefix)
    while chars:
        code = ord(chars[-1]) + 1
        if 0xD800 <= code <= 0xDFFF:  # surrogates cannot be stored; skip to the next scalar value
            code = 0xE000
        if code <= _MAX_CODE_POINT:
            chars[-1] = chr(code)
            return "".join(chars)
        chars.pop()
    return None


def rolled_up(key: str, prefix: str, delimiter: str | None) -> str | None:
    """The common prefix `key` rolls up into, if any."""
    if not delimiter or not key.startswith(prefix):
        return None
    i = key.find(delimiter, len(prefix))
    return key[: i + len(delimiter)] if i >= 0 else None


def page(fetch: Fetch, *, prefix: str = "", delimiter: str | None = None, after: str | None = None,
         max_keys: int = 1000, batch: int = 1000) -> ListPage:
    """One page of a listing.

    Args:
        fetch: the sorted key source (see the module docstring).
        prefix: only keys starting with it.
        delimiter: roll keys up to the first delimiter after the prefix (CommonPrefixes).
        after: list strictly after this key (Marker, StartAfter, or a decoded continuation token).
            If it lies inside a common prefix, the whole prefix is skipped: it was already returned.
        max_keys: the most keys plus common prefixes to return.
    """
    if max_keys <= 0:
        return ListPage([], [], False, None)
    objects: list[ObjectInfo] = []
    prefixes: list[str] = []
    order: list[str] = []  # keys and prefixes in the order returned
    lower, inclusive = after, False
    if after is not None and (cp := rolled_up(after, prefix, delimiter)) is not None:
        lower, inclusive = successor(cp), True
        if lower is None:
            return ListPage([], [], False, None)
    if lower is not None and lower < prefix:
        lower, inclusive = prefix, True
    want = max_keys + 1  # one more than the page, to tell whether it is truncated
    done = False
    while not done and len(order) < want:
        limit = min(batch, want - len(order) + 16)
        rows = fetch(lower, inclusive, prefix, limit)
        if not rows:
            break
        for info in rows:
            cp = rolled_up(info.key, prefix, delimiter)
            if cp is not None:
                prefixes.append(cp)
                order.append(cp)
                nxt = successor(cp)
                if nxt is None:
                    done = True
                else:
                    lower, inclusive = nxt, True
                break  # skip-scan past everything under cp
            objects.append(info)
            order.append(info.key)
            lower, inclusive = info.key, False
            if len(order) >= want:
                break
        else:
            done = len(rows) < limit
    truncated = len(order) > max_keys
    if truncated:
        extra = order.pop()
        if objects and objects[-1].key == extra:
            objects.pop()
        else:
            prefixes.pop()
    return ListPage(objects, prefixes, truncated, order[-1] if order else None)
