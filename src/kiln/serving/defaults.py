"""The frameworks' default handlers, used for every function the user's module does not define.

* PyTorch (sagemaker-pytorch-inference): `model.pt` TorchScript, or exactly one `.pt`/`.pth` file;
  JSON/CSV become float tensors, NPY keeps its dtype; `model(x)` under `no_grad`; tensors to lists.
* scikit-learn (sagemaker-scikit-learn-container): `model.predict(x)`. The container has no default
  `model_fn`; Kiln's loads `model.joblib` (or exactly one `.joblib`/`.pkl` file) with joblib.
* XGBoost in script mode (sagemaker-xgboost-container): `xgboost-model`; CSV (no header, no label),
  LIBSVM or JSON rows in; CSV, JSON (`{"predictions": [{"score": ..}]}`) or JSON Lines out. (Models of
  the built-in algorithm are served by `python -m kiln.algorithms.xgboost serve`.)
* Any other framework: no default model_fn (the user's module must define one); predict calls
  `model.predict` when it exists, else `model(x)`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kiln.serving import codecs


class ModelLoadError(Exception):
    """The model cannot be loaded by the default model_fn."""


@dataclass(frozen=True, slots=True)
class Defaults:
    model_fn: Callable[[str], Any]
    input_fn: Callable[[Any, str], Any]
    predict_fn: Callable[[Any, Any], Any]
    output_fn: Callable[[Any, str], Any]
    default_accept: str = codecs.JSON


def _single_file(model_dir: str, preferred: tuple[str, ...], suffixes: tuple[str, ...], what: str) -> str:
    for name in preferred:
        path = os.path.join(model_dir, name)
        if os.path.exists(path):
            return path
    found = sorted(f for f in os.listdir(model_dir) if f.endswith(suffixes)) if os.path.isdir(model_dir) else []
    if len(found) != 1:
        raise ModelLoadError(f"Exactly one {' or '.join(suffixes)} file is required for {what} models: {found}")
    return os.path.join(model_dir, found[0])


# --------------------------------------------------------------------------------------------- generic


def _no_model_fn(model_dir: str) -> Any:
    raise ModelLoadError("No model_fn was found in the inference script, and this framework has no default "
                         "one. Please provide a model_fn implementation.")


def generic_input_fn(data: Any, content_type: str) -> Any:
    array = codecs.decode(data, content_type)
    if codecs.base_type(content_type) == codecs.CSV and getattr(array, "ndim", 2) == 1:
        array = array.reshape(1, -1)  # one CSV line is one row (the toolkit's decoder gives 1-D here)
    return array


def generic_predict_fn(data: Any, model: Any) -> Any:
    if hasattr(model, "predict"):
        return model.predict(data)
    return model(data)


def generic_output_fn(prediction: Any, accept: str) -> Any:
    return codecs.encode_for_accept(prediction, accept)


GENERIC = Defaults(_no_model_fn, generic_input_fn, generic_predict_fn, generic_output_fn)

# --------------------------------------------------------------------------------------------- pytorch


def _torch_device() -> Any:
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def torch_model_fn(model_dir: str) -> Any:
    import torch

    path = _single_file(model_dir, ("model.pt",), (".pt", ".pth"), "PyTorch")
    try:
        model = torch.jit.load(path, map_location=_torch_device())
    except RuntimeError as exc:
        raise ModelLoadError(f"Failed to load {path}. Please ensure model is saved using torchscript.") from exc
    return model.to(_torch_device())


def torch_input_fn(data: Any, content_type: str) -> Any:
    import torch

    array = codecs.decode(data, content_type)
    if codecs.base_type(content_type) in codecs.UTF8_TYPES:
        tensor = torch.FloatTensor(array)
    else:
        tensor = torch.from_numpy(array)
    return tensor.to(_torch_device())


def torch_predict_fn(data: Any, model: Any) -> Any:
    import torch

    if hasattr(model, "eval"):
        model.eval()
    with torch.no_grad():
        return model(data.to(_torch_device()) if hasattr(data, "to") else data)


def torch_output_fn(prediction: Any, accept: str) -> Any:
    import torch

    if isinstance(prediction, torch.Tensor):
        prediction = prediction.detach().cpu().numpy().tolist()
    return codecs.encode_for_accept(prediction, accept)


PYTORCH = Defaults(torch_model_fn, torch_input_fn, torch_predict_fn, torch_output_fn)

# --------------------------------------------------------------------------------------------- sklearn


def sklearn_model_fn(model_dir: str) -> Any:
    import joblib

    path = _single_file(model_dir, ("model.joblib",), (".joblib", ".pkl"), "scikit-learn")
    return joblib.load(path)


SKLEARN = Defaults(sklearn_model_fn, generic_input_fn, lambda data, model: model.predict(data), generic_output_fn)

# --------------------------------------------------------------------------------------------- xgboost

XGB_MODEL = "xgboost-model"


def xgboost_model_fn(model_dir: str) -> Any:
    import xgboost as xgb

    path = os.path.join(model_dir, XGB_MODEL)
    if not os.path.exists(path):
        found = sorted(os.listdir(model_dir)) if os.path.isdir(model_dir) else []
        raise ModelLoadError(f"Model file {XGB_MODEL} not found in the model directory (found: {found}).")
    booster = xgb.Booster()
    try:
        booster.load_model(path)
    except xgb.core.XGBoostError:
        import pickle

        with open(path, "rb") as f:
            booster = pickle.load(f)
    return booster


def _libsvm_rows(text: str) -> Any:
    import numpy as np
    import scipy.sparse

    rows, cols, vals = [], [], []
    n = 0
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        if ":" not in parts[0]:
            parts = parts[1:]  # a label (ignored for inference)
        for item in parts:
            idx, _, val = item.partition(":")
            rows.append(n)
            cols.append(int(idx))
            vals.append(float(val))
        n += 1
    width = max(cols) + 1 if cols else 0
    return scipy.sparse.csr_matrix((np.array(vals, dtype=np.float32), (rows, cols)), shape=(n, width))


def xgboost_input_fn(data: Any, content_type: str) -> Any:
    import numpy as np
    import xgboost as xgb

    kind = codecs.base_type(content_type)
    text = data.decode("utf-8") if isinstance(data, bytes | bytearray) else data
    if kind == codecs.CSV:
        rows = [[float(v) if v.strip() else np.nan for v in line.split(",")] for line in text.splitlines()
                if line.strip()]
        return xgb.DMatrix(np.array(rows, dtype=np.float32))
    if kind in (codecs.LIBSVM, "text/x-libsvm"):
        return xgb.DMatrix(_libsvm_rows(text))
    if kind in (codecs.JSON, codecs.JSONLINES):
        docs = [json.loads(line) for line in text.splitlines() if line.strip()] if kind == codecs.JSONLINES \
            else [json.loads(text)]
        rows = []
        for doc in docs:
            if isinstance(doc, dict):
                doc = doc.get("instances", doc.get("features", doc.get("data")))
            rows.extend(doc if doc and isinstance(doc[0], list) else [doc])
        return xgb.DMatrix(np.array(rows, dtype=np.float32))
    raise codecs.UnsupportedFormatError(content_type)


def xgboost_predict_fn(data: Any, model: Any) -> Any:
    return model.predict(data)


def xgboost_output_fn(prediction: Any, accept: str) -> Any:
    values = prediction.tolist() if hasattr(prediction, "tolist") else list(prediction)
    for kind in codecs.parse_accept(accept):
        if kind == codecs.CSV:
            lines = [",".join(map(str, v)) if isinstance(v, list) else str(v) for v in values]
            return ("\n".join(lines) if any(isinstance(v, list) for v in values) else ",".join(lines)), kind
        if kind == codecs.JSON:
            return json.dumps({"predictions": [{"score": v} for v in values]}), kind
        if kind == codecs.JSONLINES:
            return "\n".join(json.dumps({"score": v}) for v in values), kind
    raise codecs.UnsupportedFormatError(accept)


# The xgboost framework in script mode; the built-in algorithm serves with `kiln.algorithms.xgboost serve`.
XGBOOST = Defaults(xgboost_model_fn, xgboost_input_fn, xgboost_predict_fn, xgboost_output_fn,
                   default_accept=codecs.CSV)

BY_FRAMEWORK: dict[str, Defaults] = {"pytorch": PYTORCH, "sklearn": SKLEARN, "xgboost": XGBOOST}


def for_framework(name: str | None) -> Defaults:
    return BY_FRAMEWORK.get(name or "", GENERIC)
