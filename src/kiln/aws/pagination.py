"""Opaque NextToken pagination over an already-sorted list."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from kiln.aws.errors import ValidationException

T = TypeVar("T")


def encode_token(state: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(state).encode()).decode()


def decode_token(token: str) -> Any:
    try:
        return json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationException(f"Invalid pagination token: {token!r}") from exc


def page(items: Sequence[T], token: str | None, max_results: int | None,
         default: int = 10) -> tuple[list[T], str | None]:
    """The page starting at `token` and the token for the next one (None on the last page)."""
    start = 0
    if token:
        state = decode_token(token)
        if not isinstance(state, dict) or not isinstance(state.get("o"), int) or state["o"] < 0:
            raise ValidationException(f"Invalid pagination token: {token!r}")
        start = state["o"]
    size = max_results or default
    chunk = list(items[start:start + size])
    nxt = encode_token({"o": start + size}) if start + size < len(items) else None
    return chunk, nxt


def listing(items: Sequence[T], request: dict[str, Any], summary: Callable[[T], dict[str, Any]],
            sort_keys: dict[str, Callable[[T], Any]]) -> tuple[list[dict[str, Any]], str | None]:
    """A SageMaker List* call: NameContains / CreationTime* / LastModifiedTime* / StatusEquals filters,
    sort, then a page."""
    rows = list(items)
    r = request
    if "NameContains" in r:
        rows = [x for x in rows if r["NameContains"].lower() in x.name.lower()]  # type: ignore[attr-defined]
    if "StatusEquals" in r:
        rows = [x for x in rows if x.status.value == r["StatusEquals"]]  # type: ignore[attr-defined]
    for key, attr, after in (("CreationTimeAfter", "created_at", True), ("CreationTimeBefore", "created_at", False),
                             ("LastModifiedTimeAfter", "modified_at", True),
                             ("LastModifiedTimeBefore", "modified_at", False)):
        if key in r:
            bound = r[key].timestamp()
            rows = [x for x in rows if (getattr(x, attr) > bound if after else getattr(x, attr) < bound)]
    rows.sort(key=sort_keys[r.get("SortBy", "CreationTime")], reverse=r.get("SortOrder", "Descending") == "Descending")
    chunk, token = page(rows, r.get("NextToken"), r.get("MaxResults"))
    return [summary(x) for x in chunk], token
