"""Serverless inference benchmark: cold start (idle endpoint -> first response) and warm latency of a
serverless endpoint, next to a real-time endpoint serving the same model in the same server.

The model is a scikit-learn LogisticRegression on 20 features behind an inference.py transform_fn;
requests are one JSON row, sent one at a time over a kept-alive connection to
`POST /endpoints/<name>/invocations` (what boto3 sends). The server runs with a short serverless idle
period (--idle) so that each round can wait for the endpoint to hold no process again, then time the
request that starts one. Figures are medians over the rounds (cold) and over all requests (warm).

Also printed: the server's own ModelSetupTime (replica start -> healthy, from CloudWatch), the cold
start's remainder (noticing the demand, routing, the first prediction), and the GB-seconds the
serverless variant was billed for (memory x model time).

Usage: python benchmarks/serving_serverless.py [--rounds 5] [--warm 300] [--idle 2]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import statistics
import sys
import tarfile
import tempfile
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kiln_server import KilnServer

ROW = [round(0.1 * (i % 10) * (1 if i < 10 else -1), 2) for i in range(20)]
BODY = json.dumps([ROW]).encode()
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
INFERENCE_PY = """
import json
import joblib, numpy as np
def model_fn(model_dir):
    return joblib.load(model_dir + "/model.joblib")
def transform_fn(model, body, content_type, accept):
    x = np.array(json.loads(body), dtype=float)
    return json.dumps(model.predict_proba(x).tolist()), "application/json"
"""


def model_archive() -> bytes:
    import joblib
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 20))
    model = LogisticRegression().fit(x, (x @ rng.normal(size=20) > 0).astype(int))
    raw = io.BytesIO()
    joblib.dump(model, raw)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        code = textwrap.dedent(INFERENCE_PY).encode()
        for arc, data in (("model.joblib", raw.getvalue()), ("code/inference.py", code)):
            info = tarfile.TarInfo(arc)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class Server(KilnServer):
    def __init__(self, work: Path, idle: float) -> None:
        super().__init__((work / "kiln-data").resolve(), log=work / "server.log",
                         env={"KILN_HOSTING_SERVERLESS_IDLE_SECONDS": str(idle),
                              "KILN_HOSTING_METRICS_FLUSH_SECONDS": "1"})
        self.data = self.data_dir

    def processes(self, endpoint: str) -> int:
        """Model-server processes of `endpoint` (by owner marker and working directory)."""
        marker = f"KILN_JOB_OWNER={self.data}#hosting".encode()
        count = 0
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if marker in (entry / "environ").read_bytes().split(b"\0") and \
                            f"/{endpoint}/" in os.readlink(entry / "cwd"):
                        count += 1
                except OSError:
                    continue
        return count


def deploy(server: Server, name: str, variant: dict[str, Any]) -> float:
    """Create the endpoint; seconds from CreateEndpoint to InService."""
    sm = server.client("sagemaker")
    sm.create_model(ModelName=name, ExecutionRoleArn="arn:aws:iam::123456789012:role/Bench", PrimaryContainer={
        "Image": IMAGE, "ModelDataUrl": "s3://bench-models/model.tar.gz",
        "Environment": {"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"}})
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[
        {"VariantName": "AllTraffic", "ModelName": name, "InitialVariantWeight": 1, **variant}])
    t0 = time.perf_counter()
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    while sm.describe_endpoint(EndpointName=name)["EndpointStatus"] != "InService":
        time.sleep(0.05)
    return time.perf_counter() - t0


def wait_processes(server: Server, endpoint: str, count: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while server.processes(endpoint) != count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{endpoint} did not reach {count} processes")
        time.sleep(0.05)


def invoke(http: Any, url: str) -> float:
    t0 = time.perf_counter()
    response = http.post(url, content=BODY, headers={"Content-Type": "application/json"})
    elapsed = time.perf_counter() - t0
    if response.status_code != 200:
        raise RuntimeError(f"{url}: {response.status_code} {response.text[:300]}")
    return elapsed


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def main() -> int:
    import httpx

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="cold starts to time (median)")
    parser.add_argument("--warm", type=int, default=300, help="warm requests per endpoint and round")
    parser.add_argument("--idle", type=float, default=2.0, help="the server's serverless idle period, seconds")
    parser.add_argument("--memory", type=int, default=2048, help="MemorySizeInMB of the serverless variant")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kiln-serverless-bench-"))
    server = Server(work, args.idle)
    try:
        s3 = server.client("s3")
        s3.create_bucket(Bucket="bench-models")
        s3.put_object(Bucket="bench-models", Key="model.tar.gz", Body=model_archive())
        deploy_rt = deploy(server, "bench-realtime", {"InstanceType": "ml.m5.large", "InitialInstanceCount": 1})
        deploy_sls = deploy(server, "bench-serverless",
                            {"ServerlessConfig": {"MemorySizeInMB": args.memory, "MaxConcurrency": 10}})
        urls = {name: f"{server.url}/endpoints/{name}/invocations" for name in ("bench-realtime", "bench-serverless")}
        cold: list[float] = []
        warm: dict[str, list[float]] = {name: [] for name in urls}
        with httpx.Client(timeout=120) as http:
            for _ in range(20):  # warm-up of the client and the real-time replica
                invoke(http, urls["bench-realtime"])
            for r in range(args.rounds):
                wait_processes(server, "bench-serverless", 0)  # idle: scaled to zero
                time.sleep(0.2)
                cold.append(invoke(http, urls["bench-serverless"]))
                for i in range(args.warm):  # interleaved, so both see the same machine
                    for name in (urls if i % 2 else reversed(list(urls))):
                        warm[name].append(invoke(http, urls[name]))
                print(f"round {r + 1}: cold start {cold[-1] * 1000:.0f} ms", flush=True)
        setup = model_setup_times(server)
        gb_seconds = prometheus_value(server, "kiln_endpoint_serverless_gb_seconds_total", "bench-serverless")
        report(args, cold, warm, setup, gb_seconds, deploy_rt, deploy_sls)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


def model_setup_times(server: Server) -> list[float]:
    """ModelSetupTime samples of the serverless variant (seconds), from CloudWatch."""
    cw = server.client("cloudwatch")
    dims = [{"Name": "EndpointName", "Value": "bench-serverless"}, {"Name": "VariantName", "Value": "AllTraffic"}]
    time.sleep(1.5)  # one metrics flush
    now = datetime.now(UTC)
    points = cw.get_metric_statistics(Namespace="AWS/SageMaker", MetricName="ModelSetupTime", Dimensions=dims,
                                      StartTime=now - timedelta(minutes=20), EndTime=now + timedelta(seconds=5),
                                      Period=1, Statistics=["Average"])["Datapoints"]
    return [p["Average"] / 1e6 for p in sorted(points, key=lambda p: p["Timestamp"])]


def prometheus_value(server: Server, metric: str, endpoint: str) -> float | None:
    import httpx

    text = httpx.get(f"{server.url}/_kiln/metrics").text
    found = re.search(rf'^{metric}{{[^}}]*endpoint="{endpoint}"[^}}]*}} ([0-9.e+-]+)$', text, re.M)
    return float(found.group(1)) if found else None


def report(args: argparse.Namespace, cold: list[float], warm: dict[str, list[float]], setup: list[float],
           gb_seconds: float | None, deploy_rt: float, deploy_sls: float) -> None:
    ms = 1000.0
    print(f"\nServerless benchmark: LogisticRegression on 20 features, one JSON row per request, one connection; "
          f"{args.rounds} cold starts, {args.warm} warm requests per endpoint and round, {os.cpu_count()} CPUs")
    print(f"{'':34} {'p50 ms':>9} {'p99 ms':>9} {'min ms':>9} {'max ms':>9}")
    print(f"{'serverless cold start':34} {statistics.median(cold) * ms:9.1f} {'':>9} {min(cold) * ms:9.1f} "
          f"{max(cold) * ms:9.1f}")
    cold_setup = setup[1:]  # the first sample is the probe at CreateEndpoint
    if cold_setup:
        print(f"{'  of which ModelSetupTime':34} {statistics.median(cold_setup) * ms:9.1f} {'':>9} "
              f"{min(cold_setup) * ms:9.1f} {max(cold_setup) * ms:9.1f}")
    for name, label in (("bench-serverless", "serverless warm"), ("bench-realtime", "real-time (1 instance)")):
        values = warm[name]
        print(f"{label:34} {statistics.median(values) * ms:9.2f} {pct(values, 99) * ms:9.2f} "
              f"{min(values) * ms:9.2f} {max(values) * ms:9.2f}")
    print(f"\nCreateEndpoint -> InService: real-time {deploy_rt:.1f} s, serverless {deploy_sls:.1f} s "
          "(a probe start proves the model loads, then the endpoint holds no process)")
    ratio = statistics.median(cold) / statistics.median(warm["bench-realtime"])
    print(f"cold start = {ratio:.0f}x a warm real-time request; warm serverless / real-time p50 = "
          f"{statistics.median(warm['bench-serverless']) / statistics.median(warm['bench-realtime']):.2f}")
    if gb_seconds is not None:
        print(f"serverless compute billed: {gb_seconds:.3f} GB-seconds ({args.memory} MB x model time)")


if __name__ == "__main__":
    sys.exit(main())
