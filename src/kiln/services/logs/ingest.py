"""PutLogEvents batch rules (what CloudWatch accepts from external writers).

Kiln's own writers call `LogStore.put_events` directly and are not subject to these rules.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from kiln.core.errors import InvalidInput

MAX_EVENTS = 10_000
MAX_BATCH_BYTES = 1_048_576
EVENT_OVERHEAD = 26  # bytes CloudWatch adds per event when sizing a batch
MAX_SPAN_MS = 24 * 3600 * 1000
TOO_NEW_MS = 2 * 3600 * 1000
TOO_OLD_MS = 14 * 24 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class Admission:
    """Which events of a batch to store: `events[start:stop]`; the rest are reported as rejected."""

    start: int
    stop: int
    too_old_end: int | None = None  # index of the last event rejected as too old
    too_new_start: int | None = None  # index of the first event rejected as too new


def admit(events: Sequence[tuple[int, str]], now_ms: int) -> Admission:
    """Check a PutLogEvents batch and split off events too old or too far in the future.

    Raises:
        InvalidInput: the batch is out of order, too large or spans more than 24 hours.
    """
    if len(events) > MAX_EVENTS:
        raise InvalidInput(f"The batch of log events in a single PutLogEvents request cannot contain "
                           f"more than {MAX_EVENTS} events.")  # unverified wording
    size = sum(len(message.encode("utf-8", "surrogatepass")) + EVENT_OVERHEAD for _, message in events)
    if size > MAX_BATCH_BYTES:
        raise InvalidInput(f"Upload too large: {size} bytes exceeds maximum size of "
                           f"{MAX_BATCH_BYTES} bytes")  # unverified wording
    stamps = [t for t, _ in events]
    if any(b < a for a, b in itertools.pairwise(stamps)):
        raise InvalidInput("Log events in a single PutLogEvents request must be in chronological order.")
    if stamps and stamps[-1] - stamps[0] > MAX_SPAN_MS:
        raise InvalidInput("The batch of log events in a single PutLogEvents request cannot span more "
                           "than 24 hours.")
    start = 0
    while start < len(stamps) and stamps[start] < now_ms - TOO_OLD_MS:
        start += 1
    stop = len(stamps)
    while stop > start and stamps[stop - 1] > now_ms + TOO_NEW_MS:
        stop -= 1
    return Admission(start, stop, start - 1 if start > 0 else None, stop if stop < len(stamps) else None)
