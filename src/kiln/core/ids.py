"""Identifiers: request ids, opaque tokens."""

from __future__ import annotations

import uuid


def request_id() -> str:
    return str(uuid.uuid4())


def short_hex(n: int = 8) -> str:
    return uuid.uuid4().hex[:n]
