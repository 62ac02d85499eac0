"""`serve`: inference for models of SageMaker's built-in XGBoost algorithm (reference §6.2).

`python -m kiln.algorithms.xgboost serve` listens on SAGEMAKER_BIND_TO_PORT (8080) with `GET /ping`,
`POST /invocations` and `GET /execution-parameters` (on 127.0.0.1 unless KILN_BIND_HOST says otherwise),
loading the booster from /opt/ml/model (under
KILN_OPT_ML when set). Requests and responses follow the SageMaker XGBoost container:

* Content-Type `text/csv` (features only, no label) or `text/libsvm` / `text/x-libsvm`
  (`index:value` tokens; a leading label is ignored); other types answer 415.
* Accept `text/csv` (the default, or SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT): predictions joined with
  `,` (with `\\n` and a trailing newline when SAGEMAKER_BATCH is set); `application/json`: a JSON array.
* SAGEMAKER_INFERENCE_OUTPUT (`predicted_label,probability,...`): selectable inference content, as
  `{"predictions": [...]}` JSON, JSON lines or CSV rows.

CSV bodies are parsed and predictions written by `codec` (vectorised, the same bytes as the per-value
formatting); a dense body as wide as the model is predicted in place. XGBoost and Arrow take their
thread counts from OMP_NUM_THREADS, which the transform launcher sets per worker process.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb

from kiln.algorithms.xgboost import codec
from kiln.algorithms.xgboost.environment import opt_ml_root

log = logging.getLogger("kiln.algorithms.xgboost.serve")

CSV_TYPES = ("text/csv", "csv")
LIBSVM_TYPES = ("text/libsvm", "text/x-libsvm", "libsvm")
ACCEPTS = ("text/csv", "application/json", "application/jsonlines")
SELECTABLE_KEYS = ("predicted_label", "labels", "probability", "probabilities", "raw_score", "raw_scores",
                   "predicted_score")


class InferenceError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def load_booster(model_dir: Path) -> xgb.Booster:
    """`xgboost-model` (or the only file) in `model_dir`: XGBoost's UBJSON/JSON/binary formats, or a
    pickled Booster as SageMaker's pre-1.3 containers wrote."""
    files = sorted(p for p in model_dir.iterdir() if p.is_file() and not p.name.startswith("."))
    preferred = [p for p in files if p.name == "xgboost-model"] or files
    if not preferred:
        raise InferenceError(500, f"No model file in {model_dir}")
    raw = preferred[0].read_bytes()
    booster = xgb.Booster()
    try:
        booster.load_model(bytearray(raw))
    except xgb.core.XGBoostError as xgb_error:
        try:
            booster = pickle.loads(raw)  # the user's own artifact, as SageMaker's container loads it
        except Exception:
            raise InferenceError(500, f"Unable to load model {preferred[0].name}: {xgb_error}") from None
        if not isinstance(booster, xgb.Booster):
            raise InferenceError(500, f"Model {preferred[0].name} is not an XGBoost Booster") from None
    return booster


def _media(value: str | None) -> str:
    return (value or "").split(";", 1)[0].strip().lower()


def parse_payload(body: bytes, content_type: str | None) -> Any:
    """The request's rows: a float32 matrix (CSV) or a CSR matrix (libsvm) for `predict`."""
    media = _media(content_type)
    if not body or body.isspace():
        raise InferenceError(204, "")
    if media in CSV_TYPES:
        try:
            return codec.parse_csv(body)
        except codec.CodecError as e:
            raise InferenceError(415, f"Loading csv data failed, please ensure data is in csv format: {e}") \
                from None
    if media in LIBSVM_TYPES:
        return _libsvm_rows(body.decode("utf-8", errors="replace").strip())
    raise InferenceError(415, f"Content type {content_type or '(none)'} is not supported: use text/csv or "
                              "text/libsvm.")


def _libsvm_rows(text: str) -> Any:
    import scipy.sparse as sp

    rows, cols, vals = [], [], []
    try:
        for r, line in enumerate(text.split("\n")):
            for token in line.split():
                if ":" in token and not token.startswith("qid:"):
                    index, _, value = token.partition(":")
                    rows.append(r)
                    cols.append(int(index))
                    vals.append(float(value))
    except ValueError as e:
        raise InferenceError(415, f"Loading libsvm data failed, please ensure data is in libsvm format: {e}") \
            from None
    n_rows = len(text.split("\n"))
    n_cols = max(cols) + 1 if cols else 0
    return sp.csr_matrix((np.asarray(vals, np.float32), (rows, cols)), shape=(n_rows, n_cols))


def predict(booster: xgb.Booster, rows: Any) -> np.ndarray:
    """The booster's predictions for `rows` (a dense matrix, a sparse one, or a DMatrix). A dense
    matrix as wide as the model is predicted in place (no DMatrix copy; the same trees, the same
    floats); anything else goes through a DMatrix as SageMaker's container does (missing trailing
    features allowed)."""
    try:
        if (isinstance(rows, np.ndarray) and rows.ndim == 2 and rows.shape[1] == booster.num_features()
                and not np.isinf(rows).any()):  # a DMatrix refuses infinities: the same answer either way
            return booster.inplace_predict(rows, validate_features=False)
        dmatrix = rows if isinstance(rows, xgb.DMatrix) else xgb.DMatrix(rows)
        return booster.predict(dmatrix, validate_features=False)
    except xgb.core.XGBoostError as e:
        message = str(e).split("Stack trace:", 1)[0].strip().splitlines()[-1]
        raise InferenceError(400, f"Unable to evaluate payload provided: {message}") from None


def _learner(booster: xgb.Booster) -> tuple[str, int]:
    config = json.loads(booster.save_config())["learner"]
    return config["objective"]["name"], int(config["learner_model_param"].get("num_class") or 0)


def select(predictions: np.ndarray, keys: list[str], objective: str, num_class: int) -> list[dict[str, Any]]:
    """Selectable inference content per prediction (NaN where a key does not apply)."""
    nan = float("nan")
    classification = objective.startswith(("binary:", "multi:"))
    labels = [0, 1] if objective.startswith("binary:") else list(range(num_class)) if num_class else nan
    out = []
    for p in predictions:
        vec = np.atleast_1d(p).astype(float)
        prob_like = objective in ("binary:logistic", "multi:softprob")
        if objective == "multi:softprob":
            label, score, scores = int(np.argmax(vec)), float(vec.max()), vec.tolist()
        elif objective in ("binary:logistic",):
            label, score, scores = int(vec[0] > 0.5), float(vec[0]), [1.0 - float(vec[0]), float(vec[0])]
        elif objective == "binary:logitraw":
            label, score, scores = int(vec[0] > 0), float(vec[0]), [1.0 - float(vec[0]), float(vec[0])]
        else:
            label, score, scores = float(vec[0]), float(vec[0]), [1.0 - float(vec[0]), float(vec[0])]
        values = {
            "predicted_label": label if classification else nan,
            "labels": labels if classification else nan,
            "probability": score if prob_like else nan,
            "probabilities": scores if prob_like else nan,
            "raw_score": score if classification else nan,
            "raw_scores": scores if classification else nan,
            "predicted_score": float(vec[0]) if not classification else nan,
        }
        out.append({k: values[k] for k in keys})
    return out


def encode(predictions: np.ndarray, accept: str, booster: xgb.Booster, *, batch: bool,
           selected: list[str] | None) -> bytes:
    if selected:
        objective, num_class = _learner(booster)
        rows = select(predictions, selected, objective, num_class)
        if accept == "application/json":
            return json.dumps({"predictions": rows}).encode()
        if accept == "application/jsonlines":
            return "\n".join(json.dumps(r) for r in rows).encode()
        lines = [",".join(f'"{r[k]}"' if isinstance(r[k], list) else str(r[k]) for k in selected) for r in rows]
        return ("\n".join(lines) + ("\n" if batch else "")).encode()
    fast = _encode_values(predictions, accept, batch=batch)
    if fast is not None:
        return fast
    values = predictions.tolist()
    if accept == "application/json":
        return json.dumps(values).encode()
    if accept == "application/jsonlines":
        return "\n".join(json.dumps(v) for v in values).encode()
    if batch:
        return ("\n".join(map(str, values)) + "\n").encode()
    return ",".join(map(str, values)).encode()


def _encode_values(predictions: np.ndarray, accept: str, *, batch: bool) -> bytes | None:
    """`encode`'s plain predictions, vectorised (the same bytes); None where `encode` formats them itself."""
    if accept == "application/json":
        return codec.join_values(predictions, ", ", json_style=True, brackets=True)
    if accept == "application/jsonlines":
        return codec.join_values(predictions, "\n", json_style=True)
    if batch:
        return codec.join_values(predictions, "\n", terminator="\n")
    return codec.join_values(predictions, ",")


def resolve_accept(header: str | None) -> str:
    accept = _media(header)
    if not accept or accept == "*/*":
        accept = _media(os.environ.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT")) or "text/csv"
    if accept in ("csv", "json"):
        accept = {"csv": "text/csv", "json": "application/json"}[accept]
    if accept not in ACCEPTS:
        raise InferenceError(406, f"Accept type {accept} is not supported. Please use supported accept types: "
                                  f"{list(ACCEPTS)}.")
    return accept


def build_app(model_dir: Path | None = None) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    booster = load_booster(model_dir or opt_ml_root() / "model")
    batch = bool(os.environ.get("SAGEMAKER_BATCH"))
    selected_env = os.environ.get("SAGEMAKER_INFERENCE_OUTPUT")
    selected = [k for k in selected_env.replace(" ", "").lower().split(",") if k] if selected_env else None

    async def ping(_request: Request) -> Response:
        return Response(status_code=200)

    async def execution_parameters(_request: Request) -> Response:
        body = {"MaxConcurrentTransforms": os.cpu_count() or 1, "BatchStrategy": "MULTI_RECORD",
                "MaxPayloadInMB": 6}
        return Response(json.dumps(body), media_type="application/json")

    async def invocations(request: Request) -> Response:
        try:
            accept = resolve_accept(request.headers.get("accept"))
            dmatrix = parse_payload(await request.body(), request.headers.get("content-type"))
            preds = predict(booster, dmatrix)
            return Response(encode(preds, accept, booster, batch=batch, selected=selected), media_type=accept)
        except InferenceError as e:
            if e.status != 204:
                log.warning("invocation failed (%d): %s", e.status, e.message)
            return Response(e.message, status_code=e.status, media_type="text/plain")

    return Starlette(routes=[Route("/ping", ping), Route("/execution-parameters", execution_parameters),
                             Route("/invocations", invocations, methods=["POST"])])


def main(_argv: list[str] | None = None) -> int:
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="[%(asctime)s:%(levelname)s] %(message)s")
    port = int(os.environ.get("SAGEMAKER_BIND_TO_PORT") or 8080)
    try:
        app = build_app()
    except InferenceError as e:
        log.error("%s", e.message)
        return 1
    # SageMaker's container binds every interface of its own network namespace; on a shared host Kiln
    # binds loopback unless the platform says otherwise.
    uvicorn.run(app, host=os.environ.get("KILN_BIND_HOST", "127.0.0.1"), port=port, log_level="warning")
    return 0
