"""One place that tells the time, so tests can freeze it."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)


def epoch() -> float:
    return time.time()


def millis() -> int:
    return int(time.time() * 1000)
