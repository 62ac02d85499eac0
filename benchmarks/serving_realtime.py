"""Real-time serving benchmark: one scikit-learn LogisticRegression (20 features), one row per request
as JSON, answered with predict_proba, driven by `wrk` (a load generator outside Python) at 1 and 16
connections. All systems run side by side, interleaved round by round; figures are medians.

Systems:
  in-process     predict_proba(row) in a loop (and with JSON decode/encode): the limit.
  starlette      a bare Starlette app calling predict_proba (uvicorn, uvloop+httptools), 1 and 2 workers.
  kiln           Kiln's InvokeEndpoint through the server (`python -m kiln server`), 1 and 2 instances,
                 the model in an inference.py transform_fn doing the same work.
  kiln-replica   the same model server process hit directly (what the gateway adds is the difference).
  mlflow         `mlflow models serve`, as shipped (1 worker) and with 2 workers, when --mlflow-python
                 names a Python with MLflow.
  ray-serve      one Ray Serve replica when --ray-python names a Python with ray[serve] (optional).

Usage: python benchmarks/serving_realtime.py [--duration 5] [--rounds 3] [--mlflow-python PATH]
MLflow's pins conflict with Kiln's environment; give it its own venv, with uvicorn's uvloop/httptools
(without them its 2-worker uvicorn never sets TCP_NODELAY and every request waits ~40 ms for a
delayed ACK, which would measure Nagle, not MLflow):
  python -m venv .venv-mlflow && .venv-mlflow/bin/pip install mlflow scikit-learn 'uvicorn[standard]'
Requires `wrk` (Debian: apt-get install -y wrk).

After the table, "where the time goes" splits Kiln's per-request cost: the gateway's Python (measured
in-process with a stub replica), CPU per request of the server and replica processes under the
16-connection load (/proc), and the model server alone.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROW = [round(0.1 * (i % 10) * (1 if i < 10 else -1), 2) for i in range(20)]
BODY = json.dumps([ROW])
ENDPOINT = "bench"

BARE_APP = """
import json, os
import joblib, numpy as np
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route
model = joblib.load(os.environ["BENCH_MODEL"])
async def invocations(request):
    x = np.array(json.loads(await request.body()), dtype=float)
    return Response(json.dumps(model.predict_proba(x).tolist()), media_type="application/json")
app = Starlette(routes=[Route("/invocations", invocations, methods=["POST"])])
"""

INFERENCE_PY = """
import json
import joblib, numpy as np
def model_fn(model_dir):
    return joblib.load(model_dir + "/model.joblib")
def transform_fn(model, body, content_type, accept):
    x = np.array(json.loads(body), dtype=float)
    return json.dumps(model.predict_proba(x).tolist()), "application/json"
"""

RAY_APP = """
import json, os, time
import joblib, numpy as np
from ray import serve
from starlette.responses import Response
@serve.deployment(num_replicas=1)
class Model:
    def __init__(self):
        self.model = joblib.load(os.environ["BENCH_MODEL"])
    async def __call__(self, request):
        x = np.array(json.loads(await request.body()), dtype=float)
        return Response(json.dumps(self.model.predict_proba(x).tolist()), media_type="application/json")
serve.start(http_options={"host": "127.0.0.1", "port": int(os.environ["BENCH_PORT"])})
serve.run(Model.bind(), route_prefix="/invocations")
print("READY", flush=True)
while True:
    time.sleep(3600)
"""


def lua(body: str) -> str:
    return (f'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
            f"wrk.body = {json.dumps(body)}\n")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 120.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"nothing listening on {port} after {timeout}s")


@dataclass
class Run:
    rps: float
    p50_us: float
    p99_us: float
    errors: int


_UNITS = {"us": 1.0, "ms": 1e3, "s": 1e6}


def _us(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    return float(m.group(1)) * _UNITS[m.group(2)] if m else float("nan")


def wrk(url: str, script: Path, connections: int, duration: float) -> Run:
    threads = 1 if connections == 1 else 2
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration:g}s", "--latency", "-s",
                          str(script), url], capture_output=True, text=True, timeout=duration + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _us(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _us(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    socket_errors = re.search(r"Socket errors:.*", out)
    errors = int(bad.group(1)) if bad else 0
    if socket_errors:
        errors += sum(int(n) for n in re.findall(r"\d+", socket_errors.group(0)))
    return Run(rps, p50, p99, errors)


@dataclass
class System:
    name: str
    url: str
    script: Path
    connections: tuple[int, ...]
    runs: dict[int, list[Run]] = field(default_factory=dict)
    pids: list[int] = field(default_factory=list)  # processes whose CPU is sampled

    def median(self, c: int) -> Run:
        runs = self.runs.get(c, [])
        return Run(statistics.median(r.rps for r in runs), statistics.median(r.p50_us for r in runs),
                   statistics.median(r.p99_us for r in runs), sum(r.errors for r in runs))


def cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return 0


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [int(p) for p in out]


class Bench:
    def __init__(self, work: Path, args: argparse.Namespace) -> None:
        self.work = work
        self.args = args
        self.procs: list[subprocess.Popen[bytes]] = []
        self.model = work / "model.joblib"

    # -- set-up ---------------------------------------------------------------------------------------
    def train(self) -> Any:
        import joblib
        import numpy as np
        from sklearn.linear_model import LogisticRegression

        rng = np.random.default_rng(0)
        x = rng.normal(size=(2000, 20))
        y = (x @ rng.normal(size=20) > 0).astype(int)
        model = LogisticRegression().fit(x, y)
        joblib.dump(model, self.model)
        return model

    def spawn(self, argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None,
              log: str = "proc") -> subprocess.Popen[bytes]:
        out = open(self.work / f"{log}.log", "ab")  # noqa: SIM115 - lives as long as the process
        proc = subprocess.Popen(argv, env={**os.environ, **(env or {})}, cwd=cwd, stdout=out,
                                stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def starlette(self, workers: int) -> System:
        (self.work / "bare_app.py").write_text(textwrap.dedent(BARE_APP))
        port = free_port()
        proc = self.spawn([sys.executable, "-m", "uvicorn", "bare_app:app", "--port", str(port), "--workers",
                           str(workers), "--loop", "uvloop", "--http", "httptools", "--no-access-log",
                           "--log-level", "warning"], {"BENCH_MODEL": str(self.model)}, self.work,
                          f"starlette-{workers}")
        wait_port(port, proc=proc)
        time.sleep(1.0 if workers > 1 else 0.2)
        return System(f"starlette ({workers} worker{'s' if workers > 1 else ''})",
                      f"http://127.0.0.1:{port}/invocations", self.work / "post.lua", (1, 16), pids=[proc.pid])

    def kiln(self) -> tuple[str, int]:
        port = free_port()
        proc = self.spawn([sys.executable, "-m", "kiln", "server", "--port", str(port), "--data-dir",
                           str(self.work / "kiln-data"), "--log-level", "warning"], log="kiln")
        wait_port(port, proc=proc)
        return f"http://127.0.0.1:{port}", proc.pid

    def deploy(self, url: str, name: str, instances: int) -> None:
        import boto3

        kw = {"endpoint_url": url, "region_name": "us-east-1", "aws_access_key_id": "bench",
              "aws_secret_access_key": "bench"}
        s3, sm = boto3.client("s3", **kw), boto3.client("sagemaker", **kw)
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            for arc, data in (("model.joblib", self.model.read_bytes()),
                              ("code/inference.py", textwrap.dedent(INFERENCE_PY).encode())):
                info = tarfile.TarInfo(arc)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        if name == ENDPOINT:
            s3.create_bucket(Bucket="bench-models")
        s3.put_object(Bucket="bench-models", Key=f"{name}/model.tar.gz", Body=buf.getvalue())
        sm.create_model(ModelName=name, ExecutionRoleArn="arn:aws:iam::123456789012:role/Bench", PrimaryContainer={
            "Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3",
            "ModelDataUrl": f"s3://bench-models/{name}/model.tar.gz",
            "Environment": {"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"}})
        sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
            "VariantName": "AllTraffic", "ModelName": name, "InitialInstanceCount": instances,
            "InstanceType": "ml.m5.large"}])
        sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
        sm.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 300})

    @staticmethod
    def replica_pids(endpoint_dir: str) -> list[int]:
        """The model-server processes of one endpoint (found by their working directory)."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                env = (entry / "environ").read_bytes()
                cwd = os.readlink(entry / "cwd")
            except OSError:
                continue
            if b"KILN_SERVING_FRAMEWORK=" in env and f"/{endpoint_dir}/" in cwd + "/":
                found.append(int(entry.name))
        return sorted(found)

    def model_server(self) -> System:
        """Kiln's model server process on its own (TCP), with the same inference.py."""
        root = self.work / "opt-ml"
        (root / "model" / "code").mkdir(parents=True)
        shutil.copy(self.model, root / "model" / "model.joblib")
        (root / "model" / "code" / "inference.py").write_text(textwrap.dedent(INFERENCE_PY))
        port = free_port()
        proc = self.spawn([sys.executable, "-m", "kiln.serving"], {
            "KILN_OPT_ML": str(root), "SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_BIND_TO_PORT": str(port),
            "KILN_SERVING_FRAMEWORK": "sklearn"}, log="model-server")
        wait_port(port, proc=proc)
        return System("kiln model server alone (1 process)", f"http://127.0.0.1:{port}/invocations",
                      self.work / "post.lua", (1, 16), pids=[proc.pid])

    def mlflow(self, python: str, workers: int) -> System | None:
        path = self.work / "mlflow-model"
        code = (f"import joblib, mlflow.sklearn; mlflow.sklearn.save_model(joblib.load({str(self.model)!r}), "
                f"{str(path)!r}, pyfunc_predict_fn='predict_proba')")
        if not path.exists():
            done = subprocess.run([python, "-c", code], capture_output=True, text=True)
            if done.returncode != 0:
                print(f"mlflow: cannot save the model ({done.stderr.strip().splitlines()[-1:]}); skipped")
                return None
        port = free_port()
        mlflow_bin = str(Path(python).parent / "mlflow")
        path_env = {"PATH": f"{Path(python).parent}{os.pathsep}{os.environ.get('PATH', '')}"}  # its uvicorn
        proc = self.spawn([mlflow_bin, "models", "serve", "-m", str(path), "-h", "127.0.0.1", "-p", str(port),
                           "-w", str(workers), "--env-manager", "local"], path_env, log=f"mlflow-{workers}")
        wait_port(port, timeout=180, proc=proc)
        (self.work / "mlflow.lua").write_text(lua(json.dumps({"inputs": [ROW]})))
        time.sleep(2)
        label = "default: 1 worker" if workers == 1 else f"{workers} workers"
        return System(f"mlflow models serve ({label})", f"http://127.0.0.1:{port}/invocations",
                      self.work / "mlflow.lua", (1, 16), pids=[proc.pid])

    def ray(self, python: str) -> System | None:
        port = free_port()
        (self.work / "ray_app.py").write_text(textwrap.dedent(RAY_APP))
        proc = self.spawn([python, str(self.work / "ray_app.py")], {"BENCH_MODEL": str(self.model),
                                                                    "BENCH_PORT": str(port)}, log="ray")
        try:
            wait_port(port, timeout=300, proc=proc)
        except RuntimeError as exc:
            print(f"ray serve: {exc}; skipped")
            return None
        time.sleep(5)
        return System("ray serve (1 replica)", f"http://127.0.0.1:{port}/invocations", self.work / "post.lua",
                      (1, 16), pids=[proc.pid])

    def close(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def in_process(model: Any, seconds: float = 2.0) -> dict[str, float]:
    import numpy as np

    x = np.array([ROW], dtype=float)
    out = {}
    for label, fn in (("predict_proba", lambda: model.predict_proba(x)),
                      ("json + predict_proba + json",
                       lambda: json.dumps(model.predict_proba(np.array(json.loads(BODY), dtype=float)).tolist()))):
        for _ in range(200):
            fn()
        samples = []
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            t = time.perf_counter()
            for _ in range(100):
                fn()
            samples.append((time.perf_counter() - t) / 100)
        out[label] = statistics.median(samples) * 1e6
    return out


def gateway_cost(runs: int = 3000) -> float:
    """Per-request Python of Kiln's InvokeEndpoint path (plain-ASGI front + provider + router), with
    a stub replica, in-process: what Kiln adds on top of the HTTP servers and the model."""
    from kiln.app import build_app
    from kiln.config import Settings
    from kiln.services.hosting.router import EndpointRoute, ReplicaTarget, VariantRoute
    from kiln.services.hosting.upstream import UpstreamResponse

    class Stub:
        async def request(self, *_: Any, **__: Any) -> UpstreamResponse:
            return UpstreamResponse(200, {b"content-type": b"application/json"}, b"[[0.4, 0.6]]")

    with tempfile.TemporaryDirectory() as tmp:
        app = build_app(Settings(data_dir=Path(tmp), port=1))
        app.state.platform.hosting.router.publish(("123456789012", "us-east-1", "ep"), EndpointRoute.build(
            "ep", [VariantRoute("AllTraffic", 1.0, (ReplicaTarget("r", "AllTraffic", Stub()),))]))
        body = BODY.encode()
        scope = {"type": "http", "method": "POST", "path": "/endpoints/ep/invocations", "query_string": b"",
                 "raw_path": b"/endpoints/ep/invocations", "headers": [
                     (b"host", b"127.0.0.1"), (b"content-type", b"application/json"),
                     (b"content-length", str(len(body)).encode())]}

        async def one() -> None:
            async def receive() -> dict[str, Any]:
                return {"type": "http.request", "body": body, "more_body": False}

            async def send(_: dict[str, Any]) -> None:
                return None

            await app(dict(scope), receive, send)

        async def loop() -> float:
            for _ in range(300):
                await one()
            samples = []
            for _ in range(runs // 100):
                t = time.perf_counter()
                for _ in range(100):
                    await one()
                samples.append((time.perf_counter() - t) / 100)
            return statistics.median(samples)

        return asyncio.run(loop()) * 1e6


@contextmanager
def cpu_sample(pids: list[int]) -> Iterator[Callable[[], dict[int, int]]]:
    before = {p: cpu_ticks(p) for p in pids}
    result: dict[int, int] = {}
    yield lambda: result
    result.update({p: cpu_ticks(p) - before[p] for p in pids})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="runs per system and connection count (median)")
    parser.add_argument("--mlflow-python",
                        default=os.environ.get("KILN_BENCH_MLFLOW_PYTHON", ".venv-mlflow/bin/python"))
    parser.add_argument("--ray-python", default=os.environ.get("KILN_BENCH_RAY_PYTHON"))
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk is required (Debian: apt-get install -y wrk)", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="kiln-serving-bench-"))
    (work / "post.lua").write_text(lua(BODY))
    bench = Bench(work, args)
    try:
        model = bench.train()
        limit = in_process(model)
        systems = [bench.starlette(1), bench.starlette(2)]
        url, server_pid = bench.kiln()
        bench.deploy(url, ENDPOINT, 1)
        bench.deploy(url, f"{ENDPOINT}-x2", 2)
        kiln1 = System("kiln InvokeEndpoint (1 instance)", f"{url}/endpoints/{ENDPOINT}/invocations",
                       work / "post.lua", (1, 16), pids=[server_pid])
        kiln2 = System("kiln InvokeEndpoint (2 instances)", f"{url}/endpoints/{ENDPOINT}-x2/invocations",
                       work / "post.lua", (16,), pids=[server_pid])
        kiln1.pids += bench.replica_pids(ENDPOINT)
        kiln2.pids += bench.replica_pids(f"{ENDPOINT}-x2")
        systems += [kiln1, kiln2, bench.model_server()]
        if args.mlflow_python and Path(args.mlflow_python).exists():
            for workers in (1, 2):
                found = bench.mlflow(args.mlflow_python, workers)
                if found:
                    systems.append(found)
        else:
            print(f"mlflow: no Python at {args.mlflow_python} (see --mlflow-python); skipped")
        if args.ray_python:
            found = bench.ray(args.ray_python)
            if found:
                systems.append(found)
        cpu: dict[str, list[dict[int, int]]] = {}
        for s in systems:  # warm-up
            wrk(s.url, s.script, max(s.connections), 1.0)
        for _ in range(args.rounds):
            for c in (1, 16):
                for s in systems:
                    if c not in s.connections:
                        continue
                    with cpu_sample(s.pids) as ticks:
                        run = wrk(s.url, s.script, c, args.duration)
                    s.runs.setdefault(c, []).append(run)
                    if c == 16 and s.pids:
                        cpu.setdefault(s.name, []).append({p: t for p, t in ticks().items()} | {-1: int(
                            run.rps * args.duration)})
        report(systems, limit, cpu, gateway_cost(), args, work)
    finally:
        bench.close()
        shutil.rmtree(work, ignore_errors=True)
    return 0


def report(systems: list[System], limit: dict[str, float], cpu: dict[str, list[dict[int, int]]], gateway_us: float,
           args: argparse.Namespace, work: Path) -> None:
    tick_us = 1e6 / os.sysconf("SC_CLK_TCK")
    print(f"\nServing benchmark: LogisticRegression on 20 features, one JSON row per request, wrk "
          f"{args.duration:g}s x {args.rounds} rounds (medians), {os.cpu_count()} CPUs")
    print(f"{'system':40} {'conns':>5} {'req/s':>9} {'p50':>9} {'p99':>9} {'errors':>7}")
    rows = []
    for c in (1, 16):
        for s in systems:
            if c in s.runs:
                m = s.median(c)
                rows.append({"system": s.name, "connections": c, "rps": m.rps, "p50_us": m.p50_us,
                             "p99_us": m.p99_us, "errors": m.errors})
                print(f"{s.name:40} {c:>5} {m.rps:>9.0f} {m.p50_us:>7.0f}us {m.p99_us:>7.0f}us {m.errors:>7}")
    for label, us in limit.items():
        print(f"{'in-process ' + label:40} {'-':>5} {1e6 / us:>9.0f} {us:>7.1f}us")
    by = {(r["system"], r["connections"]): r for r in rows}
    bare1 = by.get(("starlette (1 worker)", 1))
    bare2 = by.get(("starlette (2 workers)", 16))
    k1 = by.get(("kiln InvokeEndpoint (1 instance)", 1))
    k16 = max((r for r in rows if r["system"].startswith("kiln InvokeEndpoint") and r["connections"] == 16),
              key=lambda r: r["rps"], default=None)
    ml16 = by.get(("mlflow models serve (default: 1 worker)", 16))
    ml16x2 = by.get(("mlflow models serve (2 workers)", 16))
    print("\nGoals")
    if bare1 and k1:
        print(f"  p50 overhead over bare Starlette at 1 connection: {k1['p50_us'] - bare1['p50_us']:.0f} us "
              f"(goal < 500 us)")
    if k16 and bare2:
        print(f"  16 connections, best Kiln vs Starlette with 2 workers: {k16['rps'] / bare2['rps']:.2f}x "
              f"(goal >= 0.5x)")
    if k16 and ml16:
        print(f"  16 connections, best Kiln vs MLflow's scoring server as shipped (1 worker): "
              f"{k16['rps'] / ml16['rps']:.1f}x (goal >= 3x)")
    if k16 and ml16x2:
        print(f"  16 connections, best Kiln vs MLflow with 2 workers: {k16['rps'] / ml16x2['rps']:.1f}x")
    print("\nWhere the time goes (Kiln, 1 instance)")
    print(f"  Kiln's own Python per request (plain-ASGI InvokeEndpoint path, stub replica, in-process): "
          f"{gateway_us:.0f} us")
    for name, samples in cpu.items():
        if not name.startswith("kiln InvokeEndpoint"):
            continue
        per: dict[str, list[float]] = {}
        for sample in samples:
            requests = max(1, sample.pop(-1))
            for i, (_, ticks) in enumerate(sorted(sample.items())):
                label = "server process (uvicorn + Kiln)" if i == 0 else f"model server {i}"
                per.setdefault(label, []).append(ticks * tick_us / requests)
        parts = ", ".join(f"{k} {statistics.median(v):.0f} us" for k, v in per.items())
        print(f"  CPU per request at 16 connections, {name}: {parts}")
    alone = by.get(("kiln model server alone (1 process)", 1))
    if alone and k1 and bare1:
        print(f"  p50 at 1 connection: model server alone {alone['p50_us']:.0f} us, bare Starlette "
              f"{bare1['p50_us']:.0f} us, through Kiln {k1['p50_us']:.0f} us (the extra hop: one more loopback "
              f"round trip and a second process wake-up per request)")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "in_process_us": limit, "gateway_us": gateway_us}, indent=1))
    print(f"(logs of this run were in {work})")


if __name__ == "__main__":
    sys.exit(main())
