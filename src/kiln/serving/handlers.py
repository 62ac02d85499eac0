"""The inference handler contract (sagemaker-inference `transformer.py`), run over a user module.

The user module (`SAGEMAKER_PROGRAM` in `SAGEMAKER_SUBMIT_DIRECTORY`, normally
`/opt/ml/model/code/inference.py`) may define `model_fn(model_dir)`, `input_fn(body, content_type)`,
`predict_fn(data, model)`, `output_fn(prediction, accept)` and `pre_model_fn(model_dir)`, or instead
`transform_fn(model, body, content_type, accept)` (mutually exclusive with the three). Each function
may take one extra trailing `context` argument. What the module lacks comes from the framework's
defaults (`defaults.py`).

Request rules, as in the toolkit: a missing Accept or `*/*` becomes `SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT`
(else the framework's default); JSON and CSV bodies are decoded to `str` before `input_fn`; `output_fn`
may return `(body, content_type)`; a handler exception is answered 500 with its message (or the
exception's own `status`, e.g. 415 for an unsupported content type), its traceback goes to the log.
"""

from __future__ import annotations

import importlib.util
import inspect
import logging
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from kiln.serving import codecs
from kiln.serving.defaults import Defaults

LOG = logging.getLogger("kiln.serving")
CUSTOM_ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"


class HandlerError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(slots=True)
class Context:
    """The `context` argument handlers may take (the subset of MMS's Context that toolkits use)."""

    model_dir: str
    request_headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    response_headers: dict[str, str] = field(default_factory=dict)
    status: int = 200
    system_properties: dict[str, Any] = field(default_factory=dict)

    def get_request_header(self, idx: int, key: str) -> str | None:
        return self.request_headers.get(key.lower())

    def get_all_request_header(self, idx: int) -> dict[str, str]:
        return dict(self.request_headers)

    def set_response_header(self, idx: int, key: str, value: str) -> None:
        self.response_headers[key] = value

    def set_response_content_type(self, idx: int, value: str) -> None:
        self.response_headers["Content-Type"] = value

    def set_response_status(self, code: int = 200, phrase: str = "") -> None:
        self.status = code

    @property
    def custom_attributes(self) -> str | None:
        return self.request_headers.get(CUSTOM_ATTRIBUTES.lower())


@dataclass(slots=True)
class Result:
    status: int
    body: bytes | Iterator[bytes]
    content_type: str
    headers: dict[str, str]


def load_user_module(submit_dir: str | None, program: str | None) -> ModuleType | None:
    """Import the user's entry point from the submit directory (None when there is none)."""
    if not program or not submit_dir or not os.path.isdir(submit_dir):
        return None
    path = os.path.join(submit_dir, program)
    if not path.endswith(".py"):
        path += ".py"
    if not os.path.exists(path):
        raise FileNotFoundError(f"The inference script {program} was not found in {submit_dir}.")
    if submit_dir not in sys.path:
        sys.path.insert(0, submit_dir)
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _wants_context(fn: Callable[..., Any], nargs: int) -> bool:
    """Whether `fn` takes the trailing `context` argument (it has one more parameter than `nargs`)."""
    try:
        return len(inspect.signature(fn).parameters) == nargs + 1
    except (TypeError, ValueError):
        return False


def _call(fn: Callable[..., Any], context: Context, *args: Any) -> Any:
    if _wants_context(fn, len(args)):
        return fn(*args, context)
    return fn(*args)


class HandlerService:
    """Loads the model once, then turns requests into responses. Not thread-safe by itself: the app
    serialises calls (one model instance per process, as one MMS worker)."""

    def __init__(self, model_dir: str, defaults: Defaults, module: ModuleType | None = None,
                 default_accept: str | None = None) -> None:
        self.model_dir = model_dir
        self.defaults = defaults
        self.module = module
        self.default_accept = default_accept or defaults.default_accept
        self.model: Any = None
        names = ("model_fn", "input_fn", "predict_fn", "output_fn", "transform_fn", "pre_model_fn")
        user = {n: getattr(module, n) for n in names if callable(getattr(module, n, None))}
        if "transform_fn" in user and {"input_fn", "predict_fn", "output_fn"} & user.keys():
            raise ValueError("Cannot use transform_fn implementation in conjunction with input_fn, predict_fn, "
                             "and/or output_fn implementation")
        self.model_fn = user.get("model_fn", defaults.model_fn)
        self.input_fn = user.get("input_fn", defaults.input_fn)
        self.predict_fn = user.get("predict_fn", defaults.predict_fn)
        self.output_fn = user.get("output_fn", defaults.output_fn)
        self.transform_fn: Callable[..., Any] | None = user.get("transform_fn")
        self.pre_model_fn = user.get("pre_model_fn")
        # Signatures are read once: inspecting them per request would cost more than a small model.
        self._ctx = {"input": _wants_context(self.input_fn, 2), "predict": _wants_context(self.predict_fn, 2),
                     "output": _wants_context(self.output_fn, 2),
                     "transform": self.transform_fn is not None and _wants_context(self.transform_fn, 4)}

    def load(self) -> None:
        context = Context(self.model_dir, system_properties={"model_dir": self.model_dir, "gpu_id": 0})
        if self.pre_model_fn is not None:
            _call(self.pre_model_fn, context, self.model_dir)
        self.model = _call(self.model_fn, context, self.model_dir)

    def _default_transform(self, body: Any, content_type: str, accept: str, context: Context) -> Any:
        c = self._ctx
        data = self.input_fn(body, content_type, context) if c["input"] else self.input_fn(body, content_type)
        prediction = self.predict_fn(data, self.model, context) if c["predict"] else self.predict_fn(data, self.model)
        return self.output_fn(prediction, accept, context) if c["output"] else self.output_fn(prediction, accept)

    def invoke(self, body: bytes, content_type: str | None, accept: str | None,
               headers: dict[str, str]) -> Result:
        content_type = content_type or codecs.JSON
        if not accept or accept == "*/*":
            accept = self.default_accept
        context = Context(self.model_dir, request_headers=headers,
                          system_properties={"model_dir": self.model_dir, "gpu_id": 0})
        data: Any = body
        if codecs.base_type(content_type) in codecs.UTF8_TYPES:
            try:
                data = body.decode("utf-8")
            except UnicodeDecodeError:
                return Result(400, b"The request body is not valid UTF-8.", "text/plain", {})
        try:
            if self.transform_fn is not None:
                args = (self.model, data, content_type, accept)
                out = self.transform_fn(*args, context) if self._ctx["transform"] else self.transform_fn(*args)
            else:
                out = self._default_transform(data, content_type, accept, context)
        except Exception as exc:
            status = getattr(exc, "status", None) or getattr(exc, "status_code", None) or 500
            LOG.error("Inference failed:\n%s", traceback.format_exc().rstrip())
            return Result(int(status) if isinstance(status, int) else 500, str(exc).encode(), "text/plain",
                          context.response_headers)
        response_type = accept
        if isinstance(out, tuple) and len(out) == 2:
            out, response_type = out
        response_type = context.response_headers.pop("Content-Type", response_type)
        return Result(context.status, _as_body(out), response_type, context.response_headers)

    def answer(self, headers: list[tuple[bytes, bytes]], body: bytes, passed_names: tuple[bytes, ...]
               ) -> tuple[int, bytes, list[tuple[bytes, bytes]], bytes | Iterator[bytes]]:
        """`invoke()` for raw HTTP headers: Content-Type, Accept and the `passed_names` headers go to the
        handlers' context; -> (status, content type, extra headers, body or chunks)."""
        content_type = accept = None
        passed: dict[str, str] = {}
        for name, value in headers:
            if name == b"content-type":
                content_type = value.decode("latin-1")
            elif name == b"accept":
                accept = value.decode("latin-1")
            elif name in passed_names:
                passed[name.decode()] = value.decode("latin-1")
        result = self.invoke(body, content_type, accept, passed)
        extra = [(k.lower().encode(), v.encode("latin-1")) for k, v in result.headers.items()]
        return result.status, result.content_type.encode("latin-1"), extra, result.body


def _as_body(out: Any) -> bytes | Iterator[bytes]:
    if isinstance(out, bytes):
        return out
    if isinstance(out, bytearray | memoryview):
        return bytes(out)
    if isinstance(out, str):
        return out.encode()
    if out is None:
        return b""
    if isinstance(out, Iterator):  # a generator: streamed (InvokeEndpointWithResponseStream)
        return (chunk.encode() if isinstance(chunk, str) else bytes(chunk) for chunk in out)
    return str(out).encode()
