"""Athena's SQL (Trino/Presto DML, Hive DDL) -> DuckDB, on sqlglot's syntax trees.

sqlglot does the dialect translation; this module adds what it leaves to us: Trino's Teradata-style
`to_timestamp(string, format)`, Hive column types, and Athena's error texts for what DuckDB reports.
"""

from __future__ import annotations

import re

import sqlglot
from sqlglot import exp

_TERADATA = re.compile(r"yyyy|yy|mm|dd|hh24|hh12|hh|mi|ss|ff3|ff6|ff", re.IGNORECASE)
_TERADATA_TO_STRPTIME = {"yyyy": "%Y", "yy": "%y", "mm": "%m", "dd": "%d", "hh24": "%H", "hh12": "%I", "hh": "%I",
                         "mi": "%M", "ss": "%S", "ff3": "%g", "ff6": "%f", "ff": "%f"}


def teradata_format(fmt: str) -> str:
    return _TERADATA.sub(lambda m: _TERADATA_TO_STRPTIME[m.group(0).lower()], fmt)


def _rewrite(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Anonymous) and node.name.lower() == "to_timestamp" and len(node.expressions) == 2:
        value, fmt = node.expressions
        if isinstance(fmt, exp.Literal) and fmt.is_string:
            return exp.Anonymous(this="STRPTIME", expressions=[value, exp.Literal.string(teradata_format(fmt.this))])
    return node


def to_duckdb(tree: exp.Expression) -> str:
    """DuckDB SQL for a (table-resolved) Athena statement."""
    return tree.transform(_rewrite).sql(dialect="duckdb")


def duckdb_type(hive_type: str) -> str:
    """A Glue/Hive column type as a DuckDB type (`string` -> VARCHAR, `array<bigint>` -> BIGINT[])."""
    try:
        return exp.DataType.build(hive_type, dialect="hive").sql(dialect="duckdb")
    except (sqlglot.errors.ParseError, ValueError):
        return "VARCHAR"


def where(sql: str, name: str) -> str:
    idx = sql.find(name)
    if idx < 0:
        return ""
    line = sql.count("\n", 0, idx) + 1
    return f"line {line}:{idx - (sql.rfind(chr(10), 0, idx) + 1) + 1}: "


def athena_error(message: str, sql: str = "") -> str:
    """Athena's `ERROR_NAME: [line L:C: ]text` for a DuckDB error message (positions found in `sql`)."""
    first = message.strip().splitlines()[0] if message.strip() else message
    checks = (
        (r"Referenced column \"?([^\"\s]+)\"? not found", "COLUMN_NOT_FOUND: Column '{0}' cannot be resolved or "
                                                          "requester is not authorized to access requested resources"),
        (r"Scalar Function with name (\w+) does not exist", "FUNCTION_NOT_FOUND: Function '{0}' not registered"),
        (r"Table Function with name (\w+) does not exist", "FUNCTION_NOT_FOUND: Function '{0}' not registered"),
        (r"Table with name (\S+) does not exist", "TABLE_NOT_FOUND: Table '{0}' does not exist"),
        (r"Could not convert string '([^']*)'", "INVALID_CAST_ARGUMENT: Value cannot be cast: {0}"),
        (r"Conversion Error: (.*)", "INVALID_CAST_ARGUMENT: {0}"),
        (r"Division by zero", "DIVISION_BY_ZERO: Division by zero"),
        (r"Parser Error: (.*)", "SYNTAX_ERROR: {0}"),
        (r"Binder Error: (.*)", "SYNTAX_ERROR: {0}"),
        (r"INTERRUPT Error", "USER_CANCELLED: Query was cancelled by user"),
        (r"Out of Memory Error: (.*)", "EXCEEDED_LOCAL_MEMORY_LIMIT: {0}"),
    )
    for pattern, template in checks:
        m = re.search(pattern, first)
        if m:
            text = template.format(*m.groups())
            name, _, rest = text.partition(": ")
            if name.endswith("_NOT_FOUND") and m.groups():
                return f"{name}: {where(sql, m.group(1))}{rest}"
            return text
    return f"GENERIC_INTERNAL_ERROR: {first}"
