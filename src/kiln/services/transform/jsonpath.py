"""The JSONPath subset batch transform's `DataProcessing` filters accept (SageMaker's list of
supported operators):

* `$` the root (required first);
* `.name` a child, `.*` / `[*]` every child;
* `['a','b']` one or several named children (several: an object with those keys);
* `[2]`, `[1,3,-1]` an index or several (negative counts from the end);
* `[2:5]`, `[:5]`, `[2:]` a slice. SageMaker's guide says a slice includes its end ("`$[1:4]` is the
  second through fifth columns"), so Kiln's does too.

No filters (`?()`), no recursive descent (`..`), no nesting inside brackets. CSV records are JSON
arrays of their fields, so only the index forms apply to them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_NAME = re.compile(r"\.([A-Za-z_$][\w$-]*|\*)")
_BRACKET = re.compile(r"\[([^\[\]]*)\]")
_INT = re.compile(r"-?\d+")


class JsonPathError(ValueError):
    """A path Kiln cannot parse, or one that does not match the record."""


@dataclass(frozen=True, slots=True)
class Step:
    kind: str  # name | names | index | indices | slice | wild
    names: tuple[str, ...] = ()
    indices: tuple[int, ...] = ()
    start: int | None = None
    end: int | None = None

    @property
    def definite(self) -> bool:
        return self.kind in ("name", "index")


def parse(expr: str) -> tuple[Step, ...]:
    """Raises JsonPathError naming what is unsupported."""
    text = expr.strip()
    if not text.startswith("$"):
        raise JsonPathError(f"JSONPath {expr!r} must start with '$'.")
    pos, steps = 1, []
    while pos < len(text):
        if text.startswith("..", pos):
            raise JsonPathError(f"JSONPath {expr!r}: recursive descent ('..') is not supported.")
        if m := _NAME.match(text, pos):
            steps.append(Step("wild") if m.group(1) == "*" else Step("name", names=(m.group(1),)))
        elif m := _BRACKET.match(text, pos):
            steps.append(_bracket(m.group(1).strip(), expr))
        else:
            raise JsonPathError(f"JSONPath {expr!r}: cannot read {text[pos:]!r}.")
        pos = m.end()
    return tuple(steps)


def _bracket(inner: str, expr: str) -> Step:
    if inner == "*":
        return Step("wild")
    if inner.startswith(("'", '"')):
        names = [p.strip() for p in inner.split(",")]
        if not all(len(n) >= 2 and n[0] == n[-1] and n[0] in "'\"" for n in names):
            raise JsonPathError(f"JSONPath {expr!r}: names in brackets must be quoted.")
        parts = tuple(n[1:-1] for n in names)
        if any("." in p or "[" in p for p in parts):
            raise JsonPathError(f"JSONPath {expr!r}: nested paths inside brackets are not supported.")
        return Step("name", names=parts) if len(parts) == 1 else Step("names", names=parts)
    if ":" in inner:
        bounds = [b.strip() for b in inner.split(":")]
        if len(bounds) != 2 or not all(b == "" or _INT.fullmatch(b) for b in bounds):
            raise JsonPathError(f"JSONPath {expr!r}: a slice is [start:end] with integers.")
        return Step("slice", start=int(bounds[0]) if bounds[0] else None, end=int(bounds[1]) if bounds[1] else None)
    items = [p.strip() for p in inner.split(",")]
    if not items or not all(_INT.fullmatch(i) for i in items):
        raise JsonPathError(f"JSONPath {expr!r}: unsupported bracket expression [{inner}].")
    values = tuple(int(i) for i in items)
    return Step("index", indices=values) if len(values) == 1 else Step("indices", indices=values)


def apply(steps: tuple[Step, ...], doc: Any) -> Any:
    """The part of `doc` the path selects. Raises JsonPathError when it does not match."""
    if not steps:
        return doc
    step, rest = steps[0], steps[1:]
    if step.definite:
        return apply(rest, _one(step, doc))
    selected = _many(step, doc)
    if step.kind == "names":
        return selected if not rest else {k: apply(rest, v) for k, v in selected.items()}
    return [apply(rest, item) for item in selected] if rest else selected


def _one(step: Step, doc: Any) -> Any:
    if step.kind == "name":
        name = step.names[0]
        if not isinstance(doc, dict) or name not in doc:
            raise JsonPathError(f"No results for path: $['{name}']")
        return doc[name]
    if not isinstance(doc, list):
        raise JsonPathError(f"Filter: [{step.indices[0]}] can only be applied to arrays.")
    try:
        return doc[step.indices[0]]
    except IndexError:
        raise JsonPathError(f"Index [{step.indices[0]}] is out of range for {len(doc)} elements.") from None


def _many(step: Step, doc: Any) -> Any:
    if step.kind == "wild":
        if isinstance(doc, dict):
            return list(doc.values())
        if isinstance(doc, list):
            return list(doc)
        raise JsonPathError("'*' can only be applied to objects and arrays.")
    if step.kind == "names":
        if not isinstance(doc, dict):
            raise JsonPathError("Named children can only be selected from objects.")
        return {k: doc[k] for k in step.names if k in doc}
    if not isinstance(doc, list):
        raise JsonPathError("Indexes and slices can only be applied to arrays.")
    if step.kind == "indices":
        n = len(doc)
        bad = [i for i in step.indices if not -n <= i < n]
        if bad:
            raise JsonPathError(f"Index {bad[0]} is out of range for {n} elements.")
        return [doc[i] for i in step.indices]
    end = step.end
    stop = None if end is None or end == -1 else end + 1  # SageMaker's slices include their end
    return doc[step.start:stop]


def is_identity(expr: str | None) -> bool:
    return expr is None or expr.strip() in ("", "$")
