"""`kiln features`: the feature groups as a table, from the server's `/_kiln/status` document."""

from __future__ import annotations

import time
from typing import Any

from rich.table import Table


def _ago(epoch: float | None, now: float) -> str:
    if not epoch:
        return "never"
    seconds = max(0, int(now - epoch))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def _count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def features_table(groups: list[dict[str, Any]], now: float | None = None) -> Table:
    now = time.time() if now is None else now
    table = Table(title="Feature groups", title_justify="left")
    for column, justify in (("name", "left"), ("status", "left"), ("online records", "right"),
                            ("offline records", "right"), ("offline files", "right"), ("last ingest", "right")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for g in sorted(groups, key=lambda g: g["name"]):
        table.add_row(g["name"], g["status"], _count(g.get("onlineRecords")), _count(g.get("offlineRecords")),
                      _count(g.get("offlineFiles")) if g.get("offlineRecords") is not None else "-",
                      _ago(g.get("lastIngest"), now))
    if not groups:
        table.add_row("(none)", "", "", "", "", "")
    return table
