"""Log groups, streams and events as plain values (no AWS shapes; `wire.py` maps them)."""

from __future__ import annotations

from dataclasses import dataclass

from kiln.core.scope import Scope


@dataclass(frozen=True, slots=True)
class LogEvent:
    """One event of a stream. `seq` is its position in the stream (1, 2, ...), in append order."""

    seq: int
    timestamp: int  # epoch milliseconds, as given by the writer
    ingestion_time: int  # epoch milliseconds, when Kiln stored it
    message: str


@dataclass(frozen=True, slots=True)
class LogGroup:
    scope: Scope
    name: str
    created_ms: int
    stored_bytes: int = 0
    kms_key_id: str | None = None
    group_class: str = "STANDARD"
    retention_days: int | None = None


@dataclass(frozen=True, slots=True)
class LogStream:
    group: str
    name: str
    created_ms: int
    first_event_ms: int | None = None
    last_event_ms: int | None = None
    last_ingestion_ms: int | None = None
    stored_bytes: int = 0
    last_seq: int = 0


@dataclass(frozen=True, slots=True)
class FilteredEvent:
    """An event found by `LogStore.filter`, with where it lives. `key` orders events across streams."""

    stream: str
    stream_id: int
    event: LogEvent

    @property
    def key(self) -> tuple[int, int, int]:
        return (self.event.timestamp, self.stream_id, self.event.seq)


@dataclass(frozen=True, slots=True)
class FilterPage:
    """A page of `LogStore.filter`. `resume_after` is the key to continue after; None when done."""

    events: list[FilteredEvent]
    resume_after: tuple[int, int, int] | None
