"""CloudWatch Logs filter patterns: the term subset.

Supported (case-sensitive, as in CloudWatch):

* `ERROR Exception` — every term must occur in the message;
* `"Connection refused"` — a quoted phrase is one term;
* `?ERROR ?WARN` — at least one of the `?` terms must occur;
* `ERROR -DEBUG` — a `-` term must not occur;
* an empty pattern (or `""`) matches every event.

JSON (`{ $.level = "error" }`) and space-delimited (`[ip, user, ...]`) patterns are not supported:
they raise `InvalidInput` rather than silently matching the wrong events.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass

from kiln.core.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class TermPattern:
    required: tuple[str, ...] = ()
    any_of: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()

    def __call__(self, message: str) -> bool:
        if any(term not in message for term in self.required):
            return False
        if any(term in message for term in self.excluded):
            return False
        return not self.any_of or any(term in message for term in self.any_of)


def compile_pattern(text: str | None) -> Callable[[str], bool]:
    """A predicate on event messages for a filter pattern.

    Raises:
        InvalidInput: the pattern is malformed or uses JSON / space-delimited syntax.
    """
    text = (text or "").strip()
    if text.startswith(("{", "[")) or text.startswith("%"):
        raise InvalidInput("Kiln supports only term filter patterns (terms, \"phrases\", ?any, -not); "
                           "JSON, space-delimited and regex patterns are not implemented.")
    try:
        tokens = shlex.split(text, posix=True)
    except ValueError as exc:
        raise InvalidInput("Invalid character(s) in term") from exc  # unverified wording
    required: list[str] = []
    any_of: list[str] = []
    excluded: list[str] = []
    for token in tokens:
        if token.startswith("?") and len(token) > 1:
            any_of.append(token[1:])
        elif token.startswith("-") and len(token) > 1:
            excluded.append(token[1:])
        elif token:
            required.append(token)
    return TermPattern(tuple(required), tuple(any_of), tuple(excluded))
