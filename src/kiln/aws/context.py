"""What a handler knows about the request it serves."""

from __future__ import annotations

from dataclasses import dataclass, field

from kiln.core.scope import Scope


@dataclass(slots=True)
class RequestContext:
    service: str
    operation: str
    scope: Scope
    request_id: str
    access_key: str = "kiln"
    host: str = ""
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
