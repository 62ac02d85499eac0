"""Feature Store online path: write throughput and GetRecord latency, against a Kiln server subprocess.

1. Creates a group with --features features (an id, an event time, the rest Fractional) and loads
   --records records with BatchWriteRecord (25 per call, --threads client threads): records/s.
2. PutRecord, one record per call: records/s with 1 and --threads client threads.
3. The SageMaker SDK's `FeatureGroup.ingest` (one PutRecord per row, --sdk-workers threads) of
   --sdk-rows rows: records/s.
4. An Athena count(*) (it flushes the offline buffer first), then GetRecord over HTTP (boto3, one warm
   connection, random ids) on the quiet server: p50 / p99 / mean.
5. The server is stopped; the same data dir is opened in-process and `RecordService.get` (the internal
   API the other services call) is timed on the same ids: p50 / p99.

    .venv/bin/python benchmarks/featurestore_online.py --records 1000000      # the issue's size
    .venv/bin/python benchmarks/featurestore_online.py --records 100000       # a quick run
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from kiln_server import KilnServer

GROUP = "bench-online"
BUCKET = "kiln-bench-featurestore"


def client(url: str, service: str) -> Any:
    return boto3.client(service, endpoint_url=url, region_name="us-east-1", aws_access_key_id="kiln",
                        aws_secret_access_key="kiln", config=Config(retries={"max_attempts": 3, "mode": "standard"},
                                                                    max_pool_connections=32))


def record(i: int, features: int) -> list[dict[str, str]]:
    out = [{"FeatureName": "id", "ValueAsString": f"id-{i:08d}"},
           {"FeatureName": "event_time", "ValueAsString": "2026-06-06T10:00:00Z"}]
    out += [{"FeatureName": f"f{k:02d}", "ValueAsString": repr(i * 0.001 + k)} for k in range(features - 2)]
    return out


def percentiles(samples: list[float]) -> str:
    s = sorted(samples)
    p = lambda q: s[min(len(s) - 1, int(q * len(s)))] * 1000  # noqa: E731
    return f"p50 {p(0.50):.3f} ms  p99 {p(0.99):.3f} ms  mean {statistics.fmean(s) * 1000:.3f} ms  (n={len(s)})"


def create_group(url: str, features: int) -> None:
    client(url, "s3").create_bucket(Bucket=BUCKET)
    sm = client(url, "sagemaker")
    defs = [{"FeatureName": "id", "FeatureType": "String"}, {"FeatureName": "event_time", "FeatureType": "String"}]
    defs += [{"FeatureName": f"f{k:02d}", "FeatureType": "Fractional"} for k in range(features - 2)]
    sm.create_feature_group(FeatureGroupName=GROUP, RecordIdentifierFeatureName="id", EventTimeFeatureName="event_time",
                            FeatureDefinitions=defs, OnlineStoreConfig={"EnableOnlineStore": True},
                            OfflineStoreConfig={"S3StorageConfig": {"S3Uri": f"s3://{BUCKET}/fs"}})
    while sm.describe_feature_group(FeatureGroupName=GROUP)["FeatureGroupStatus"] != "Created":
        time.sleep(0.2)


def bulk_load(url: str, n: int, features: int, threads: int) -> float:
    clients = [client(url, "sagemaker-featurestore-runtime") for _ in range(threads)]

    def load(k: int) -> None:
        rt = clients[k]
        for start in range(k * 25, n, 25 * threads):
            entries = [{"FeatureGroupName": GROUP, "Record": record(i, features)}
                       for i in range(start, min(start + 25, n))]
            errors = rt.batch_write_record(Entries=entries)["Errors"]
            assert not errors, errors[:1]

    t0 = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(load, range(threads)))
    return n / (time.perf_counter() - t0)


def put_rate(url: str, n: int, features: int, threads: int, offset: int) -> float:
    clients = [client(url, "sagemaker-featurestore-runtime") for _ in range(threads)]

    def put(k: int) -> None:
        for i in range(offset + k, offset + n, threads):
            clients[k].put_record(FeatureGroupName=GROUP, Record=record(i, features))

    t0 = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(put, range(threads)))
    return n / (time.perf_counter() - t0)


def sdk_ingest(url: str, data_dir: Path, rows: int, features: int, workers: int) -> float | None:
    try:
        import pandas as pd
    except ImportError:
        return None
    from kiln.config import Settings
    from kiln.envvars import client_env

    os.environ.update(client_env(url, Settings(data_dir=data_dir), data_dir / "client"))
    try:
        from sagemaker import Session
        from sagemaker.feature_store.feature_group import FeatureGroup
    except ImportError:
        return None
    frame = pd.DataFrame({"id": [f"sdk-{i:08d}" for i in range(rows)], "event_time": ["2026-06-06T11:00:00Z"] * rows,
                          **{f"f{k:02d}": [i * 0.5 + k for i in range(rows)] for k in range(features - 2)}})
    group = FeatureGroup(name=GROUP, sagemaker_session=Session(boto3.Session(region_name="us-east-1")))
    t0 = time.perf_counter()
    group.ingest(data_frame=frame, max_workers=workers, wait=True)
    return rows / (time.perf_counter() - t0)


def drain_offline(url: str) -> tuple[int, float]:
    """Athena flushes the offline buffer before a query: the seconds until every record is in Parquet."""
    athena = client(url, "athena")
    t0 = time.perf_counter()
    qid = athena.start_query_execution(QueryString=f'SELECT count(*) FROM "{GROUP}"',
                                       QueryExecutionContext={"Database": "sagemaker_featurestore"},
                                       ResultConfiguration={"OutputLocation": f"s3://{BUCKET}/q/"})["QueryExecutionId"]
    while athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]["Status"]["State"] in ("QUEUED",
                                                                                                  "RUNNING"):
        time.sleep(0.1)
    rows = athena.get_query_results(QueryExecutionId=qid)["ResultSet"]["Rows"]
    return int(rows[1]["Data"][0]["VarCharValue"]), time.perf_counter() - t0


def get_http(url: str, ids: list[int]) -> list[float]:
    rt = client(url, "sagemaker-featurestore-runtime")
    for i in ids[:200]:  # warm the connection and the page cache
        rt.get_record(FeatureGroupName=GROUP, RecordIdentifierValueAsString=f"id-{i:08d}")
    out = []
    for i in ids:
        t0 = time.perf_counter()
        got = rt.get_record(FeatureGroupName=GROUP, RecordIdentifierValueAsString=f"id-{i:08d}")
        out.append(time.perf_counter() - t0)
        assert "Record" in got
    return out


def get_internal(data_dir: Path, ids: list[int]) -> list[float]:
    from kiln.config import Settings
    from kiln.core.scope import Scope
    from kiln.platform import Platform

    platform = Platform(Settings(data_dir=data_dir))
    records, scope = platform.features.records, Scope("123456789012", "us-east-1")
    for i in ids[:200]:
        records.get(scope, GROUP, f"id-{i:08d}", None)
    out = []
    for i in ids:
        t0 = time.perf_counter()
        got = records.get(scope, GROUP, f"id-{i:08d}", None)
        out.append(time.perf_counter() - t0)
        assert got is not None
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--features", type=int, default=20)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--puts", type=int, default=2000)
    ap.add_argument("--sdk-rows", type=int, default=5000)
    ap.add_argument("--sdk-workers", type=int, default=4)
    ap.add_argument("--gets", type=int, default=5000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="kiln-bench-fs-") as tmp:
        data_dir = Path(tmp) / "data"
        server = KilnServer(data_dir)
        url = server.url
        try:
            create_group(url, args.features)
            print(f"group: {args.features} features; loading {args.records:,} records ...", flush=True)
            loaded = bulk_load(url, args.records, args.features, args.threads)
            print(f"BatchWriteRecord bulk load ({args.threads} threads): {loaded:,.0f} records/s")
            print(f"PutRecord, 1 thread:  {put_rate(url, args.puts, args.features, 1, args.records):,.0f} records/s")
            print(f"PutRecord, {args.threads} threads: "
                  f"{put_rate(url, args.puts, args.features, args.threads, args.records + args.puts):,.0f} records/s")
            rate = sdk_ingest(url, data_dir, args.sdk_rows, args.features, args.sdk_workers)
            print(f"SDK FeatureGroup.ingest ({args.sdk_workers} workers, {args.sdk_rows:,} rows): "
                  + (f"{rate:,.0f} records/s" if rate else "skipped (sagemaker SDK not installed)"))
            count, seconds = drain_offline(url)
            print(f"offline store: {count:,} rows in Parquet; the rest of the buffer flushed in {seconds:.1f} s")
            ids = [random.randrange(args.records) for _ in range(args.gets)]
            print(f"GetRecord over HTTP (boto3, warm connection): {percentiles(get_http(url, ids))}", flush=True)
        finally:
            server.stop(timeout=120)
        print(f"GetRecord internal API (RecordService.get):   {percentiles(get_internal(data_dir, ids))}")


if __name__ == "__main__":
    main()
