"""A job host's output: each line goes to CloudWatch Logs as it is printed (batched per ~100 ms),
and MetricDefinitions regexes turn lines into metric values."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

LOG = logging.getLogger(__name__)
FLUSH_SECONDS = 0.1


@dataclass(slots=True)
class MetricParser:
    """Applies `MetricDefinitions` ({Name, Regex}) to log lines; keeps every value seen."""

    definitions: list[tuple[str, re.Pattern[str]]]
    values: dict[str, list[tuple[float, float]]] = field(default_factory=dict)

    @classmethod
    def build(cls, definitions: list[dict[str, str]], log: Callable[[str], None]) -> MetricParser:
        compiled: list[tuple[str, re.Pattern[str]]] = []
        for d in definitions:
            try:
                compiled.append((d["Name"], re.compile(d["Regex"])))
            except re.error as exc:
                log(f"Kiln: metric {d['Name']!r}: invalid regex {d['Regex']!r} ({exc}); ignored.")
        return cls(compiled)

    def feed(self, line: str, ts: float) -> list[tuple[str, float]]:
        found: list[tuple[str, float]] = []
        for name, pattern in self.definitions:
            m = pattern.search(line)
            if not m:
                continue
            try:
                value = float(m.group(1) if m.groups() else m.group(0))
            except (ValueError, IndexError):
                continue
            self.values.setdefault(name, []).append((ts, value))
            found.append((name, value))
        return found

    def final(self) -> list[dict[str, Any]]:
        return [{"MetricName": name, "Value": series[-1][1], "Timestamp": series[-1][0]}
                for name, series in self.values.items() if series]


class LinePump:
    """Reads one host's merged stdout/stderr and forwards lines; `sink(lines)` is called from a
    worker thread with [(timestamp ms, text)] batches."""

    def __init__(self, reader: asyncio.StreamReader, sink: Callable[[list[tuple[int, str]]], None],
                 on_line: Callable[[str, float], None]) -> None:
        self.reader = reader
        self.sink = sink
        self.on_line = on_line
        self.tail: list[str] = []  # last lines, for failure reasons

    async def run(self) -> None:
        batch: list[tuple[int, str]] = []
        last_flush = time.monotonic()
        while True:
            try:
                raw = await asyncio.wait_for(self.reader.readline(), timeout=FLUSH_SECONDS)
            except TimeoutError:
                raw = None
            except ValueError:  # a line longer than the stream limit: take what is there
                raw = await self.reader.read(1 << 20)
            if raw == b"":
                break
            if raw is not None:
                now = time.time()
                text = raw.decode("utf-8", "replace").rstrip("\r\n")
                batch.append((int(now * 1000), text))
                self.tail = [*self.tail[-19:], text]
                try:
                    self.on_line(text, now)
                except Exception:
                    LOG.exception("metric parsing failed")
            if batch and (time.monotonic() - last_flush >= FLUSH_SECONDS or len(batch) >= 1000):
                await self._flush(batch)
                batch = []
                last_flush = time.monotonic()
        if batch:
            await self._flush(batch)

    async def _flush(self, batch: list[tuple[int, str]]) -> None:
        try:
            await asyncio.to_thread(self.sink, batch)
        except Exception:
            LOG.exception("writing job log lines failed")
