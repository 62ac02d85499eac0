"""Multi-model endpoint benchmark: 200 models under one S3 prefix served by one instance whose memory
budget holds a quarter of them (their total unpacked size is 4x the budget), through a real `kiln
server` subprocess and its InvokeEndpoint fast path (HTTP keep-alive clients, no SDK overhead).

Each model is a linear scorer over 8,000 float64 weights (~64 KB unpacked) with its own
`code/inference.py`; one JSON row in, scores out.

Figures:
  cold load      first request to a model: download from the object store, unpack, POST /models,
                 invoke (sequential, distinct models; median and p90 ms).
  warm hit       a loaded model, sequential requests (median and p99 ms), next to a single-model
                 endpoint serving the same artifact (what TargetModel routing adds).
  zipf           --requests requests at --concurrency, targets drawn from a Zipf law (s=--zipf) over the
                 200 models: throughput, latency, and the cache hit rate from CloudWatch's
                 ModelCacheHit, next to an ideal LRU cache of the same capacity replaying the same
                 trace in one process.

Usage: python benchmarks/serving_multimodel.py [--models 200] [--requests 3000] [--concurrency 16] [--instances 1]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import statistics
import sys
import tarfile
import tempfile
import time
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import httpx
import numpy as np
from botocore.config import Config
from kiln_server import KilnServer

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
ROLE = "arn:aws:iam::123456789012:role/KilnExecutionRole"
BUCKET = "kiln-bench-mme"
WEIGHTS = 8000
BODY = json.dumps({"inputs": [[0.5, -1.0, 0.25, 1.5, 2.0, -0.5, 0.0, 1.0]]}).encode()

INFERENCE_PY = """
import json, os
import numpy as np

def model_fn(model_dir):
    return np.load(os.path.join(model_dir, "weights.npy"))

def input_fn(body, content_type):
    return np.array(json.loads(body)["inputs"], dtype=float)

def predict_fn(data, w):
    return (data @ w[: data.shape[1]]).tolist()

def output_fn(prediction, accept):
    return json.dumps({"scores": prediction}), "application/json"
"""


def artifact(seed: int) -> bytes:
    weights = io.BytesIO()
    np.save(weights, np.random.default_rng(seed).normal(size=WEIGHTS))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in (("weights.npy", weights.getvalue()), ("code/inference.py", INFERENCE_PY.encode())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


FOOTPRINT = WEIGHTS * 8 + 128 + len(INFERENCE_PY)  # unpacked bytes per model (what the budget counts)


def client(url: str, service: str) -> Any:
    return boto3.client(service, endpoint_url=url, region_name="us-east-1", aws_access_key_id="kiln",
                        aws_secret_access_key="kiln", config=Config(retries={"max_attempts": 1}))


def wait_in_service(sm: Any, name: str, timeout: float = 300) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = sm.describe_endpoint(EndpointName=name)["EndpointStatus"]
        if status == "InService":
            return
        if status == "Failed":
            raise RuntimeError(sm.describe_endpoint(EndpointName=name)["FailureReason"])
        time.sleep(0.2)
    raise RuntimeError(f"endpoint {name} did not come up")


def deploy(sm: Any, name: str, container: dict[str, Any], instances: int = 1) -> None:
    sm.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer=container)
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": name, "InitialInstanceCount": instances,
        "InstanceType": "ml.m5.xlarge"}])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    wait_in_service(sm, name)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def sequential(http: httpx.Client, name: str, targets: list[str | None]) -> list[float]:
    out = []
    for target in targets:
        headers = {"Content-Type": "application/json"}
        if target:
            headers["X-Amzn-SageMaker-Target-Model"] = target
        t0 = time.perf_counter()
        r = http.post(f"/endpoints/{name}/invocations", content=BODY, headers=headers)
        out.append((time.perf_counter() - t0) * 1000)
        if r.status_code != 200:
            raise RuntimeError(f"{target}: {r.status_code} {r.text}")
    return out


async def zipf_load(url: str, name: str, trace: list[str], concurrency: int) -> tuple[float, list[float]]:
    queue: asyncio.Queue[str] = asyncio.Queue()
    for t in trace:
        queue.put_nowait(t)
    latencies: list[float] = []

    async def worker(http: httpx.AsyncClient) -> None:
        while not queue.empty():
            target = queue.get_nowait()
            t0 = time.perf_counter()
            r = await http.post(f"/endpoints/{name}/invocations", content=BODY,
                                headers={"Content-Type": "application/json", "X-Amzn-SageMaker-Target-Model": target})
            latencies.append((time.perf_counter() - t0) * 1000)
            if r.status_code != 200:
                raise RuntimeError(f"{target}: {r.status_code} {r.text}")

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120) as http:
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
        return time.perf_counter() - t0, latencies


def lru_hit_rate(trace: list[str], capacity: int) -> float:
    cache: OrderedDict[str, None] = OrderedDict()
    hits = 0
    for t in trace:
        if t in cache:
            hits += 1
            cache.move_to_end(t)
            continue
        cache[t] = None
        if len(cache) > capacity:
            cache.popitem(last=False)
    return hits / len(trace)


def cache_stats(cw: Any, name: str) -> tuple[float, float]:
    now = datetime.now(UTC)
    dims = [{"Name": "EndpointName", "Value": name}, {"Name": "VariantName", "Value": "AllTraffic"}]
    points = cw.get_metric_statistics(Namespace="AWS/SageMaker", MetricName="ModelCacheHit", Dimensions=dims,
                                      StartTime=now - timedelta(hours=2), EndTime=now + timedelta(minutes=1),
                                      Period=3 * 3600, Statistics=["Sum", "SampleCount"])["Datapoints"]
    return (sum(p["Sum"] for p in points), sum(p["SampleCount"] for p in points))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", type=int, default=200)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--zipf", type=float, default=1.0, help="Zipf exponent s (P(rank k) ~ 1/k^s)")
    parser.add_argument("--cold", type=int, default=20, help="distinct models timed for the cold load")
    parser.add_argument("--warm", type=int, default=500, help="sequential requests timed for the warm hit")
    parser.add_argument("--instances", type=int, default=1, help="instances of the Zipf endpoint (each with the "
                        "budget; the ideal LRU then holds as many models as all of them)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="kiln-bench-mme-"))
    with KilnServer(work / "data", env={"KILN_HOSTING_METRICS_FLUSH_SECONDS": "1"}, log=work / "kiln.log",
                    timeout=120) as server:
        return run(args, server.url)


def run(args: argparse.Namespace, url: str) -> int:
    sm, s3, cw = client(url, "sagemaker"), client(url, "s3"), client(url, "cloudwatch")
    s3.create_bucket(Bucket=BUCKET)
    n = args.models
    names = [f"model-{i:03d}.tar.gz" for i in range(n)]
    blobs = [artifact(i) for i in range(n)]
    for name, blob in zip(names, blobs, strict=True):
        s3.put_object(Bucket=BUCKET, Key=f"mme/{name}", Body=blob)
    s3.put_object(Bucket=BUCKET, Key="single/model.tar.gz", Body=blobs[0])
    budget_models = n / 4
    budget_mb = budget_models * FOOTPRINT / 2**20
    capacity = int(budget_models)
    print(f"{n} models of {FOOTPRINT / 1024:.1f} KB unpacked ({n * FOOTPRINT / 2**20:.1f} MB in all, "
          f"{len(blobs[0]) / 1024:.1f} KB archives); memory budget {budget_mb:.2f} MB = {capacity} models (1/4)")

    container = {"Image": IMAGE, "Mode": "MultiModel", "ModelDataUrl": f"s3://{BUCKET}/mme/",
                 "Environment": {"SAGEMAKER_PROGRAM": "inference.py", "KILN_MULTIMODEL_MEMORY_MB": f"{budget_mb:.6f}"}}
    t0 = time.perf_counter()
    deploy(sm, "bench-mme", container)
    deploy(sm, "bench-mme-zipf", container, args.instances)
    deploy(sm, "bench-single", {"Image": IMAGE, "ModelDataUrl": f"s3://{BUCKET}/single/model.tar.gz",
                                "Environment": {"SAGEMAKER_PROGRAM": "inference.py",
                                                "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"}})
    print(f"three endpoints in service in {time.perf_counter() - t0:.1f} s")

    with httpx.Client(base_url=url, timeout=120) as http:
        cold = sequential(http, "bench-mme", names[:args.cold])
        sequential(http, "bench-mme", [names[0]] * 20)  # warm-up
        warm = sequential(http, "bench-mme", [names[0]] * args.warm)
        sequential(http, "bench-single", [None] * 20)
        single = sequential(http, "bench-single", [None] * args.warm)

    ranks = np.arange(1, n + 1, dtype=float)
    probs = ranks ** -args.zipf
    probs /= probs.sum()
    rng = np.random.default_rng(7)
    order = rng.permutation(n)  # popularity is not the file order
    trace = [names[order[i]] for i in rng.choice(n, size=args.requests, p=probs)]
    before = cache_stats(cw, "bench-mme-zipf")
    seconds, latencies = asyncio.run(zipf_load(url, "bench-mme-zipf", trace, args.concurrency))
    time.sleep(2.5)  # the metrics flush (1 s here)
    after = cache_stats(cw, "bench-mme-zipf")
    hits, count = after[0] - before[0], after[1] - before[1]
    ideal = lru_hit_rate(trace, capacity * args.instances)

    print()
    print(f"{'':32} {'median ms':>10} {'p90/p99 ms':>11}")
    print(f"{'cold load (download+load+invoke)':32} {statistics.median(cold):10.2f} {pct(cold, 0.9):11.2f}  (p90)")
    print(f"{'warm hit, multi-model':32} {statistics.median(warm):10.2f} {pct(warm, 0.99):11.2f}  (p99)")
    print(f"{'same model, single-model endpoint':32} {statistics.median(single):10.2f} {pct(single, 0.99):11.2f}  "
          f"(p99)")
    print()
    print(f"zipf s={args.zipf}: {args.requests} requests over {n} models at concurrency {args.concurrency}, "
          f"{args.instances} instance(s): "
          f"{args.requests / seconds:.0f} req/s, median {statistics.median(latencies):.2f} ms, "
          f"p99 {pct(latencies, 0.99):.2f} ms")
    print(f"cache hit rate (CloudWatch ModelCacheHit): {hits / count if count else float('nan'):.3f} "
          f"({int(hits)}/{int(count)}); ideal LRU of {capacity * args.instances} models on the same trace: {ideal:.3f}")
    for endpoint in ("bench-mme", "bench-mme-zipf", "bench-single"):
        sm.delete_endpoint(EndpointName=endpoint)
    return 0


if __name__ == "__main__":
    sys.exit(main())
