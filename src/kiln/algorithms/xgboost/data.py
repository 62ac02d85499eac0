"""Channel data for SageMaker's XGBoost algorithm: CSV, LIBSVM and Parquet, as the container reads them.

* `text/csv` (also `csv`, `text/csv; label_size=1`): no header, the label in the first column; with
  `csv_weights=1` the instance weight in the second. The delimiter is sniffed from the first line.
* `text/libsvm` (also `libsvm`, `text/x-libsvm`; the default when a channel names no ContentType):
  `<label>[:<weight>] [qid:<id>] <index>:<value> ...`, indices taken as they are (zero-based).
* `application/x-parquet` (also `parquet`): the label in the first column, features in the rest.
* `application/x-recordio-protobuf` answers a ClientError: Kiln does not read it yet.

All files under the channel directory are read, recursively and in path order, skipping names that
start with `.` or `_` as the container does. In Pipe mode the channel's FIFO
`/opt/ml/input/data/<channel>_0` is read to its end (CSV and LIBSVM only).
"""

from __future__ import annotations

import csv
import io
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kiln.algorithms.xgboost.errors import ClientError

CSV, LIBSVM, PARQUET, RECORDIO = "csv", "libsvm", "parquet", "recordio-protobuf"

_ALIASES = {
    "csv": CSV, "text/csv": CSV,
    "libsvm": LIBSVM, "text/libsvm": LIBSVM, "text/x-libsvm": LIBSVM,
    "parquet": PARQUET, "application/x-parquet": PARQUET,
    "recordio-protobuf": RECORDIO, "application/x-recordio-protobuf": RECORDIO,
}
_ACCEPTED = ", ".join(_ALIASES)


def parse_content_type(value: str | None) -> str:
    """The data format a channel's ContentType names (libsvm when it names none, as SageMaker)."""
    if not value:
        return LIBSVM
    media, _, params = value.strip().lower().partition(";")
    media = media.strip()
    fmt = _ALIASES.get(media)
    if fmt is None:
        raise ClientError(f"{value} is not an accepted ContentType: {_ACCEPTED}.")
    if params.strip():
        if fmt != CSV:
            raise ClientError(f"{value} is not an accepted ContentType: {_ACCEPTED}.")
        options = dict(p.strip().partition("=")[::2] for p in params.split(";") if p.strip())
        if options.get("label_size", "1").strip() != "1":
            raise ClientError(f"{value} is not an accepted csv ContentType. Optional parameter label_size "
                              "must be equal to 1")
    return fmt


@dataclass(slots=True)
class Dataset:
    """Features (dense ndarray or scipy CSR), labels, optional weights and query ids."""

    features: Any
    labels: np.ndarray
    weights: np.ndarray | None = None
    qid: np.ndarray | None = None

    @property
    def num_rows(self) -> int:
        return int(self.labels.shape[0])

    @property
    def num_features(self) -> int:
        return int(self.features.shape[1])

    def widen(self, num_features: int) -> None:
        """Pad with empty columns (LIBSVM channels may see fewer feature indices than others)."""
        if num_features <= self.num_features:
            return
        if isinstance(self.features, np.ndarray):
            raise ClientError(f"Channel data has {self.num_features} feature columns, expected "
                              f"{num_features}")
        self.features.resize((self.num_rows, num_features))

    def to_dmatrix(self, nthread: int | None = None) -> Any:
        import xgboost as xgb

        try:
            return xgb.DMatrix(self.features, label=self.labels, weight=self.weights, qid=self.qid,
                               nthread=nthread)
        except (xgb.core.XGBoostError, ValueError) as e:
            raise ClientError(f"Failed to build the training matrix: {e}") from None


def data_files(path: Path) -> list[Path]:
    """Data files under a channel directory (or the file itself), recursively, in path order."""
    if path.is_file() or _is_fifo(path):
        return [path]
    if not path.is_dir():
        return []
    out = []
    for p in sorted(path.rglob("*")):
        rel = p.relative_to(path).parts
        if any(part.startswith((".", "_")) for part in rel):
            continue
        if ".cache" in p.name and ("dtrain" in p.name or "dval" in p.name):
            continue
        if p.is_file() and p.stat().st_size > 0:
            out.append(p)
    return out


def _is_fifo(path: Path) -> bool:
    try:
        return stat.S_ISFIFO(path.stat().st_mode)
    except OSError:
        return False


def load(path: Path, fmt: str, *, csv_weights: int = 0, channel: str = "train") -> Dataset | None:
    """Read a channel; None when it holds no data."""
    files = data_files(path)
    if not files:
        return None
    if fmt == RECORDIO:
        raise ClientError("ContentType application/x-recordio-protobuf is not supported by Kiln's XGBoost "
                          "algorithm yet; use text/csv, text/libsvm or application/x-parquet.")
    if fmt == PARQUET:
        if _is_fifo(files[0]):
            raise ClientError("Pipe mode is not supported for Parquet channels in Kiln; use File mode.")
        parts = [_read_parquet(f) for f in files]
    else:
        reader = _read_csv if fmt == CSV else _read_libsvm
        parts = [reader(f.read_bytes() if not _is_fifo(f) else _drain(f), f, csv_weights) for f in files]
    parts = [p for p in parts if p.num_rows > 0]
    if not parts:
        return None
    return _concat(parts, channel)


def _drain(fifo: Path) -> bytes:
    with open(fifo, "rb") as fh:
        return fh.read()


def _concat(parts: list[Dataset], channel: str) -> Dataset:
    if len(parts) == 1:
        return parts[0]
    width = max(p.num_features for p in parts)
    for p in parts:
        p.widen(width)
    if isinstance(parts[0].features, np.ndarray):
        features: Any = np.vstack([p.features for p in parts])
    else:
        import scipy.sparse as sp

        features = sp.vstack([p.features for p in parts], format="csr")
    labels = np.concatenate([p.labels for p in parts])
    weights = None
    if any(p.weights is not None for p in parts):
        weights = np.concatenate([p.weights if p.weights is not None else np.ones(p.num_rows, np.float32)
                                  for p in parts])
    qid = None
    if any(p.qid is not None for p in parts):
        if not all(p.qid is not None for p in parts):
            raise ClientError(f"Some files of channel {channel} have qid and others do not")
        qid = np.concatenate([p.qid for p in parts if p.qid is not None])
    return Dataset(features, labels, weights, qid)


# ---- CSV -------------------------------------------------------------------------------------------


def _sniff_delimiter(line: str, name: str) -> str:
    try:
        return csv.Sniffer().sniff(line, delimiters=",\t;| ").delimiter
    except csv.Error:
        if "," not in line and line.strip():
            return ","  # one column: the label only
        raise ClientError(f"Could not determine delimiter on line {line[:50]!r} of file {name}") from None


def _read_csv(blob: bytes, path: Path, csv_weights: int) -> Dataset:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    text_head = blob[:65536].decode("utf-8", errors="replace")
    first = next((ln for ln in text_head.splitlines() if ln.strip()), "")
    if not first:
        return Dataset(np.empty((0, 0), np.float32), np.empty(0, np.float32))
    delimiter = _sniff_delimiter(first, path.name)
    if not blob.endswith(b"\n"):
        blob += b"\n"  # pyarrow cannot infer the columns of a lone unterminated row
    try:
        table = pacsv.read_csv(
            io.BytesIO(blob),
            read_options=pacsv.ReadOptions(autogenerate_column_names=True),
            parse_options=pacsv.ParseOptions(delimiter=delimiter),
            convert_options=pacsv.ConvertOptions(strings_can_be_null=True),
        )
        table = table.cast(pa.schema([(n, pa.float32()) for n in table.column_names]))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
        raise ClientError(f"Failed to load csv data from {path.name}: {e}. CSV input needs numeric values, "
                          "no header row, and the label in the first column.") from None
    matrix = _table_to_numpy(table)
    first_feature = 2 if csv_weights == 1 else 1
    if matrix.shape[1] < first_feature:
        raise ClientError(f"CSV file {path.name} has {matrix.shape[1]} column(s); it needs the label"
                          + (" and the weight" if csv_weights == 1 else "") + " before the features")
    weights = matrix[:, 1].copy() if csv_weights == 1 else None
    return Dataset(np.ascontiguousarray(matrix[:, first_feature:]), matrix[:, 0].copy(), weights)


def _table_to_numpy(table: Any) -> np.ndarray:
    out = np.empty((table.num_rows, table.num_columns), dtype=np.float32)
    for i, column in enumerate(table.columns):
        out[:, i] = column.to_numpy()
    return out


# ---- Parquet ---------------------------------------------------------------------------------------


def _read_parquet(path: Path) -> Dataset:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
        table = table.cast(pa.schema([(n, pa.float32()) for n in table.column_names]))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as e:
        raise ClientError(f"Failed to load parquet data from {path.name}: {e}") from None
    if table.num_columns < 1:
        raise ClientError(f"Parquet file {path.name} has no columns")
    matrix = _table_to_numpy(table)
    return Dataset(np.ascontiguousarray(matrix[:, 1:]), matrix[:, 0].copy())


# ---- LIBSVM ----------------------------------------------------------------------------------------

_WEIGHTED_LABEL = re.compile(rb"^[ \t]*[^\s:#]+:", re.M)


def _split_weights(blob: bytes, name: str) -> tuple[bytes, np.ndarray]:
    """Strip `<label>:<weight>` weights (which scikit-learn's reader does not take)."""
    lines, weights = [], []
    for line in blob.splitlines():
        body = line.split(b"#", 1)[0].strip()
        if not body:
            continue
        head, _, rest = body.partition(b" ")
        label, _, weight = head.partition(b":")
        try:
            weights.append(float(weight) if weight else 1.0)
        except ValueError:
            raise ClientError(f"LIBSVM file {name}: {head.decode(errors='replace')!r} does not follow the "
                              "label format <label>(:<weight>)") from None
        lines.append(label + b" " + rest)
    return b"\n".join(lines) + b"\n", np.asarray(weights, dtype=np.float32)


def _read_libsvm(blob: bytes, path: Path, _csv_weights: int) -> Dataset:
    from sklearn.datasets import load_svmlight_file

    weights = None
    if _WEIGHTED_LABEL.search(blob):
        blob, weights = _split_weights(blob, path.name)
    has_qid = b"qid:" in blob
    try:
        features, labels, *rest = load_svmlight_file(
            io.BytesIO(blob), zero_based=True, query_id=has_qid, dtype=np.float32)
    except ValueError as e:
        raise ClientError(f"First line of file '{path.name}' is not 'LIBSVM' format or the file is "
                          f"malformed: {e}") from None
    qid = np.asarray(rest[0]) if has_qid else None
    return Dataset(features.tocsr(), np.asarray(labels, dtype=np.float32), weights, qid)
