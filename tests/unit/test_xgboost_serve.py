"""Inference for SageMaker built-in XGBoost models (`python -m kiln.algorithms.xgboost serve`): the
Starlette app in-process, and the real server as a subprocess on a loopback port."""

from __future__ import annotations

import json
import os
import pickle
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

np = pytest.importorskip("numpy")
xgb = pytest.importorskip("xgboost")

from kiln.algorithms.xgboost.serve import build_app, load_booster  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def _model_dir(tmp_path: Path, objective: str = "binary:logistic", **params: Any) -> tuple[Path, Any]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3))
    if objective.startswith("multi:"):
        y = np.digitize(x[:, 0], [-0.5, 0.5])
        params["num_class"] = 3
    elif objective.startswith("binary:"):
        y = (x[:, 0] > 0).astype(float)
    else:
        y = 2 * x[:, 0] + x[:, 1]
    booster = xgb.train({"objective": objective, **params}, xgb.DMatrix(x, label=y), num_boost_round=10)
    model_dir = tmp_path / "model"
    model_dir.mkdir(parents=True)
    booster.save_model(str(model_dir / "xgboost-model.ubj"))
    (model_dir / "xgboost-model.ubj").rename(model_dir / "xgboost-model")
    return model_dir, booster


class _Client:
    """Synchronous calls into the ASGI app through httpx's ASGI transport."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        import asyncio

        import httpx

        async def go() -> Any:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://kiln") as client:
                return await client.request(method, path, **kw)

        return asyncio.run(go())

    def get(self, path: str, **kw: Any) -> Any:
        return self._call("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Any:
        return self._call("POST", path, **kw)


def _client(model_dir: Path, monkeypatch: pytest.MonkeyPatch, **env: str) -> _Client:
    for key in ("SAGEMAKER_BATCH", "SAGEMAKER_INFERENCE_OUTPUT", "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return _Client(build_app(model_dir))


def test_csv_in_csv_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model_dir, booster = _model_dir(tmp_path)
    client = _client(model_dir, monkeypatch)
    assert client.get("/ping").status_code == 200
    rows = np.array([[1.0, 0.2, -0.3], [-1.0, 0.5, 0.0]])
    resp = client.post("/invocations", content="1.0,0.2,-0.3\n-1.0,0.5,0.0", headers={"Content-Type": "text/csv"})
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")
    values = [float(v) for v in resp.text.split(",")]
    np.testing.assert_allclose(values, booster.predict(xgb.DMatrix(rows)), rtol=1e-6)
    assert values[0] > 0.5 > values[1]


def test_libsvm_json_and_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model_dir, booster = _model_dir(tmp_path, "reg:squarederror")
    client = _client(model_dir, monkeypatch, SAGEMAKER_BATCH="true")
    resp = client.post("/invocations", content="0 0:1.5 1:2\n0:-1", headers={"Content-Type": "text/libsvm",
                                                                              "Accept": "application/json"})
    assert resp.status_code == 200
    import scipy.sparse as sp

    sparse = sp.csr_matrix((np.array([1.5, 2.0, -1.0]), ([0, 0, 1], [0, 1, 0])), shape=(2, 3))
    expected = booster.predict(xgb.DMatrix(sparse))  # absent entries are missing values, not zeros
    np.testing.assert_allclose(json.loads(resp.text), expected, rtol=1e-5)
    resp = client.post("/invocations", content="1.5,2,0\n-1,0,0", headers={"Content-Type": "text/csv"})
    assert resp.text.endswith("\n") and len(resp.text.strip().split("\n")) == 2


def test_selectable_inference_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model_dir, _ = _model_dir(tmp_path, "multi:softprob")
    client = _client(model_dir, monkeypatch, SAGEMAKER_INFERENCE_OUTPUT="predicted_label, probabilities")
    resp = client.post("/invocations", content="2,0,0", headers={"Content-Type": "text/csv",
                                                                 "Accept": "application/json"})
    (pred,) = resp.json()["predictions"]
    assert pred["predicted_label"] == 2 and len(pred["probabilities"]) == 3
    resp = client.post("/invocations", content="2,0,0", headers={"Content-Type": "text/csv", "Accept": "text/csv"})
    assert resp.text.startswith('2,"[')


def test_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model_dir, _ = _model_dir(tmp_path)
    client = _client(model_dir, monkeypatch)
    assert client.post("/invocations", content="", headers={"Content-Type": "text/csv"}).status_code == 204
    assert client.post("/invocations", content="{}", headers={"Content-Type": "application/json"}).status_code == 415
    resp = client.post("/invocations", content="1,2,3", headers={"Content-Type": "text/csv",
                                                                 "Accept": "application/x-foo"})
    assert resp.status_code == 406
    assert client.post("/invocations", content="a,b,c", headers={"Content-Type": "text/csv"}).status_code == 415


def test_pickled_booster_loads(tmp_path: Path) -> None:
    _, booster = _model_dir(tmp_path)
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    (legacy / "xgboost-model").write_bytes(pickle.dumps(booster))
    assert load_booster(legacy).num_boosted_rounds() == 10


def test_serve_subprocess(tmp_path: Path) -> None:
    import httpx

    model_dir, _ = _model_dir(tmp_path / "opt_ml")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "KILN_OPT_ML": str(model_dir.parent), "SAGEMAKER_BIND_TO_PORT": str(port),
           "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.Popen([sys.executable, "-m", "kiln.algorithms.xgboost", "serve"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/ping", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.time() < deadline and proc.poll() is None, "server did not start"
            time.sleep(0.1)
        resp = httpx.post(f"http://127.0.0.1:{port}/invocations", content=b"1,0,0",
                          headers={"Content-Type": "text/csv"}, timeout=10)
        assert resp.status_code == 200 and float(resp.text) > 0.5
    finally:
        proc.terminate()
        proc.wait(timeout=30)
