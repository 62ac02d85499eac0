"""The multi-model container contract: SageMaker's "Custom Containers Contract for Multi-Model Endpoints".

With `SAGEMAKER_MULTI_MODEL=true` the model server loads no model at start; the platform drives it:

* `POST /models` `{"model_name", "url"}` loads the model unpacked at `url` (a directory) and keeps it
  under `model_name` (an opaque key). 409 when that name is loaded; 507 when the model does not fit
  the memory budget (the platform then unloads models and tries again); 404 when `url` is missing.
* `GET /models[?next_page_token=..&limit=..]` -> `{"models": [{"modelName", "modelUrl"}], "nextPageToken"?}`.
* `GET /models/<name>` -> `{"modelName", "modelUrl"}`; `DELETE /models/<name>` unloads; both 404 when
  the name is not loaded.
* `POST /models/<name>/invoke`: the `/invocations` contract for that model (404 when not loaded);
  the original `X-Amzn-SageMaker-Target-Model` header is passed to the handlers.

Each model gets its own handler service: the model directory's `code/<SAGEMAKER_PROGRAM>` (default
`inference.py`) when the archive carries one, else the module from `SAGEMAKER_SUBMIT_DIRECTORY`,
else the framework's defaults. Every model's module is imported under a name of its own, so two
models' `inference.py` never shadow each other (a known trap of the toolkits' multi-model mode).

Memory budget (`KILN_MULTIMODEL_MEMORY_BYTES`, set by the platform from the instance type): a model
counts the size of its unpacked files (a serialized model's size is a fair, deterministic proxy of its
in-memory size; the framework's own import is not counted). A load that would exceed it, or that
raises MemoryError, is answered 507.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import sys
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, unquote

from kiln.serving.defaults import Defaults
from kiln.serving.handlers import HandlerService

LOG = logging.getLogger("kiln.serving")
PAGE_SIZE = 100
TARGET_MODEL = b"x-amzn-sagemaker-target-model"
_PASSED = (b"x-amzn-sagemaker-custom-attributes", TARGET_MODEL, b"x-amzn-sagemaker-inference-id")
Answer = tuple[int, bytes, list[tuple[bytes, bytes]], bytes | Iterator[bytes]]
JSON = b"application/json"


def _error(status: int, kind: str, message: str) -> Answer:
    return status, JSON, [], json.dumps({"code": status, "type": kind, "message": message}).encode()


def _ok(doc: Any, status: int = 200) -> Answer:
    return status, JSON, [], json.dumps(doc).encode()


def directory_size(path: str) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


@dataclass(slots=True)
class LoadedModel:
    name: str
    url: str
    service: HandlerService
    size: int
    module_name: str | None
    load_ms: float


class MultiModelService:
    """The loaded models of one container, and the `/models` API over them."""

    def __init__(self, defaults: Defaults, base_module: ModuleType | None = None, program: str | None = None,
                 default_accept: str | None = None, budget_bytes: int | None = None) -> None:
        self.defaults = defaults
        self.base_module = base_module
        self.program = program or "inference.py"
        self.default_accept = default_accept
        self.budget = budget_bytes
        self.models: dict[str, LoadedModel] = {}
        self.used = 0
        self._seq = 0

    @classmethod
    def from_environment(cls, defaults: Defaults, base_module: ModuleType | None,
                         program: str | None) -> MultiModelService:
        raw = os.environ.get("KILN_MULTIMODEL_MEMORY_BYTES", "")
        budget = int(raw) if raw.strip().isdigit() and int(raw) > 0 else None
        return cls(defaults, base_module, program, os.environ.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT"), budget)

    # -- routing ------------------------------------------------------------------------------------------
    def handle(self, method: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes | None) -> Answer:
        path, _, query = path.partition("?")
        parts = path.split("/")  # "", "models", name?, "invoke"?
        if path == "/models":
            if method == "GET":
                return self.list(parse_qs(query))
            if method == "POST":
                return self.load_request(body)
            return _error(405, "MethodNotAllowedException", f"{method} is not allowed on /models.")
        if len(parts) == 3 and parts[2]:
            name = unquote(parts[2])
            if method == "GET":
                return self.describe(name)
            if method == "DELETE":
                return self.unload(name)
            return _error(405, "MethodNotAllowedException", f"{method} is not allowed on {path}.")
        if len(parts) == 4 and parts[3] == "invoke" and parts[2]:
            if method != "POST":
                return _error(405, "MethodNotAllowedException", f"{method} is not allowed on {path}.")
            return self.invoke(unquote(parts[2]), headers, body)
        return _error(404, "ResourceNotFoundException", f"Requested resource is not found: {path}")

    # -- the API ------------------------------------------------------------------------------------------
    def list(self, query: dict[str, list[str]]) -> Answer:
        names = list(self.models)
        try:
            start = int((query.get("next_page_token") or ["0"])[0] or 0)
            limit = int((query.get("limit") or query.get("max_results") or [str(PAGE_SIZE)])[0])
        except ValueError:
            return _error(400, "BadRequestException", "next_page_token and limit must be integers.")
        limit = max(1, min(limit, 1000))
        page = names[start:start + limit]
        doc: dict[str, Any] = {"models": [{"modelName": n, "modelUrl": self.models[n].url} for n in page]}
        if start + limit < len(names):
            doc["nextPageToken"] = str(start + limit)
        return _ok(doc)

    def describe(self, name: str) -> Answer:
        model = self.models.get(name)
        if model is None:
            return _error(404, "ModelNotFoundException", f"Model not found: {name}")
        return _ok({"modelName": name, "modelUrl": model.url, "memoryBytes": model.size,
                    "loadMilliseconds": round(model.load_ms, 3)})

    def load_request(self, body: bytes | None) -> Answer:
        try:
            doc = json.loads(body or b"")
            name, url = doc["model_name"], doc["url"]
            if not isinstance(name, str) or not isinstance(url, str) or not name or not url:
                raise TypeError
        except (ValueError, KeyError, TypeError):
            return _error(400, "BadRequestException", 'The body must be JSON {"model_name": ..., "url": ...}.')
        return self.load(name, url)

    def load(self, name: str, url: str) -> Answer:
        if name in self.models:
            return _error(409, "ConflictException", f"Model {name} is already loaded.")
        if not os.path.isdir(url):
            return _error(404, "ModelNotFoundException", f"Model data not found at {url}.")
        size = directory_size(url)
        if self.budget is not None and self.used + size > self.budget:
            return _error(507, "InsufficientMemoryException",
                          f"Model {name} needs {size} bytes; {self.budget - self.used} of the {self.budget}-byte "
                          f"memory budget are free ({len(self.models)} models loaded).")
        started = time.perf_counter()
        module_name = None
        try:
            module, module_name = self._module(name, url)
            service = HandlerService(url, self.defaults, module, self.default_accept)
            service.load()
        except MemoryError:
            self._forget_module(module_name)
            return _error(507, "InsufficientMemoryException", f"Model {name} ran out of memory while loading.")
        except Exception as exc:
            self._forget_module(module_name)
            LOG.error("Loading model %s from %s failed:\n%s", name, url, traceback.format_exc().rstrip())
            return _error(500, "ModelLoadException", f"{type(exc).__name__}: {exc}")
        load_ms = (time.perf_counter() - started) * 1000
        self.models[name] = LoadedModel(name, url, service, size, module_name, load_ms)
        self.used += size
        LOG.info("model %s loaded from %s in %.1f ms (%d bytes; %d models, %d bytes in use)", name, url, load_ms,
                 size, len(self.models), self.used)
        return _ok({"status": f"Model {name} loaded.", "memoryBytes": size, "loadMilliseconds": round(load_ms, 3)})

    def unload(self, name: str) -> Answer:
        model = self.models.pop(name, None)
        if model is None:
            return _error(404, "ModelNotFoundException", f"Model not found: {name}")
        self.used -= model.size
        self._forget_module(model.module_name)
        model.service.model = None  # reference counting frees it now (no collector pass on the request path)
        return _ok({"status": f"Model {name} unloaded."})

    def invoke(self, name: str, headers: list[tuple[bytes, bytes]], body: bytes | None) -> Answer:
        model = self.models.get(name)
        if model is None:
            return _error(404, "ModelNotFoundException", f"Model not found: {name}")
        if body is None:
            return 413, b"text/plain", [], b"Request payload is too large."
        return model.service.answer(headers, body, _PASSED)

    # -- user modules -------------------------------------------------------------------------------------
    def _module(self, name: str, model_dir: str) -> tuple[ModuleType | None, str | None]:
        code_dir = os.path.join(model_dir, "code")
        program = self.program if self.program.endswith(".py") else self.program + ".py"
        path = os.path.join(code_dir, program)
        if not os.path.isfile(path):
            return self.base_module, None
        self._seq += 1
        module_name = f"kiln_mme_{self._seq}_{os.path.splitext(program)[0]}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        sys.path.insert(0, code_dir)  # the module's own imports of its siblings, while it is executed
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(module_name, None)
            raise
        finally:
            if code_dir in sys.path:
                sys.path.remove(code_dir)
        return module, module_name

    @staticmethod
    def _forget_module(module_name: str | None) -> None:
        if module_name:
            sys.modules.pop(module_name, None)
