"""Vectorised request and response codecs of the built-in XGBoost container (`serve.py`).

The container's answers are byte-identical to the per-value Python formatting it replaces (SageMaker's
container writes `",".join(map(str, preds.tolist()))`, `"\\n".join(...) + "\\n"` in batch, and
`json.dumps(preds.tolist())`): each float is written as Python's `repr` of the float64 value.

* `parse_csv` reads the request bytes with pyarrow's CSV reader straight into float64 columns (what
  SageMaker's `np.float` parse gives), then into one C-ordered float32 matrix (the cast XGBoost's DMatrix
  makes), without decoding, re-encoding or splitting the body in Python.
* `join_values` formats predictions with Arrow's float-to-string cast, which writes the same shortest
  round-trip digits as Python's `repr` for every finite value with 1e-4 <= |v| < 1e10 that is not an
  integer (checked by the unit tests over millions of values); the others (0, integers, tiny or huge
  values, NaN, infinities) are rare and formatted by Python itself. Rows and the whole body are joined in
  Arrow (`binary_join`).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

_BLANK = frozenset(b" \t\r\n\x0b\x0c")
_SAFE_LOW, _SAFE_HIGH = 1e-4, 1e10  # where Arrow's shortest formatting equals Python's repr (no exponent)


class CodecError(ValueError):
    """The payload cannot be read as the content type says."""


def parse_csv(body: bytes) -> np.ndarray:
    """Rows of a headerless numeric CSV (`,`, or tab when the first line holds tabs and no comma) as a
    float32 (rows, columns) matrix; empty fields and NA-like tokens are NaN (missing)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    start, end = 0, len(body)
    while start < end and body[start] in _BLANK:
        start += 1
    while end > start and body[end - 1] in _BLANK:
        end -= 1
    if start == end:
        raise CodecError("empty payload")
    newline = body.find(b"\n", start, end)
    first = body[start:end if newline < 0 else newline]
    delimiter = "\t" if b"\t" in first and b"," not in first else ","
    columns = first.count(delimiter.encode()) + 1
    names = [f"f{i}" for i in range(columns)]
    try:
        table = pacsv.read_csv(  # the request's own bytes, not copied
            pa.BufferReader(pa.py_buffer(memoryview(body)[start:end])),
            read_options=pacsv.ReadOptions(column_names=names),
            parse_options=pacsv.ParseOptions(delimiter=delimiter),
            convert_options=pacsv.ConvertOptions(column_types={n: pa.float64() for n in names}))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
        raise CodecError(str(e)) from None
    out = np.empty((table.num_rows, columns), dtype=np.float32)
    with np.errstate(over="ignore"):  # beyond float32's range is +-inf, as in a DMatrix
        for i, column in enumerate(table.columns):
            offset = 0
            for chunk in column.chunks:  # no concatenated copy of the column: chunk by chunk into the matrix
                out[offset:offset + len(chunk), i] = chunk.to_numpy(zero_copy_only=False)
                offset += len(chunk)
    return out


def _format(flat: np.ndarray, json_style: bool) -> Any:
    """An Arrow string array holding each value as Python writes it (`repr`, or `json.dumps` for NaN and
    the infinities when `json_style`)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    values = np.ascontiguousarray(flat, dtype=np.float64)
    text = pa.large_string()
    strings = pc.cast(pa.array(values), text)
    with np.errstate(invalid="ignore"):
        magnitude = np.abs(values)
        whole = (values == np.floor(values)) & (magnitude < _SAFE_HIGH)  # Arrow writes 2 and -0, Python 2.0, -0.0
        odd = ~((magnitude >= _SAFE_LOW) & (magnitude < _SAFE_HIGH)) & ~whole
    if whole.any():
        strings = pc.if_else(pa.array(whole), pc.binary_join_element_wise(strings, pa.scalar(".0", text),
                                                                          pa.scalar("", text)), strings)
    if odd.any():  # rare: 0 < |v| < 1e-4, |v| >= 1e10, NaN, infinities
        write = json.dumps if json_style else repr
        fixed = pa.array([write(v) for v in values[odd].tolist()], text)
        strings = pc.replace_with_mask(strings, pa.array(odd), fixed)
    return strings


def _join(strings: Any, separator: str, every: int | None = None) -> Any:
    """`separator`-joined groups of `every` consecutive strings (one group of all when None)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(strings)
    step = every or n
    offsets = pa.array(np.arange(0, n + 1, step, dtype=np.int64))
    return pc.binary_join(pa.LargeListArray.from_arrays(offsets, strings), pa.scalar(separator, pa.large_string()))


def _bytes(joined: Any) -> bytes:
    return joined[0].as_buffer().to_pybytes() if len(joined) else b""


def join_values(predictions: np.ndarray, separator: str, *, json_style: bool = False,
                brackets: bool = False, terminator: str = "") -> bytes | None:
    """`separator.join(str(v) for v in predictions.tolist())` (+ `terminator`; in `[...]` when
    `brackets`), vectorised: a row of a 2-D array is written as Python writes a list (`[a, b]`). None
    when the shape is not one this handles (the caller formats it itself)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if predictions.ndim not in (1, 2) or predictions.size == 0 or predictions.dtype.kind != "f":
        return None
    strings = _format(predictions.reshape(-1), json_style)
    if predictions.ndim == 2:
        rows = _join(strings, ", ", predictions.shape[1])
        text = pa.large_string()
        strings = pc.binary_join_element_wise(pa.scalar("[", text), rows, pa.scalar("]", text), pa.scalar("", text))
    body = _bytes(_join(strings, separator))
    if brackets:
        return b"[" + body + b"]" + terminator.encode()
    return body + terminator.encode() if terminator else body
