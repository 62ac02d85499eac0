"""docs/coverage.md is generated from the dispatch table; it must match the code."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("kiln_tools_coverage", ROOT / "tools" / "coverage.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_coverage_page_is_up_to_date() -> None:
    tool = _tool()
    expected = tool.render(tool.dispatch_table())
    actual = tool.DOC.read_text() if tool.DOC.exists() else ""
    assert actual == expected, "docs/coverage.md is stale: run `python tools/coverage.py`"


def test_render_is_deterministic_and_lists_implemented_operations() -> None:
    tool = _tool()
    table = tool.dispatch_table()
    first, second = tool.render(table), tool.render(table)
    assert first == second
    for service, ops in table.implemented().items():
        assert f"## {service} ({len(ops)} of " in first
        for op in ops:
            assert f"- {op}\n" in first
