"""Point-in-time training set: Kiln's pit_join (DuckDB ASOF join over Parquet) vs pandas merge_asof, and
Feast's local offline store when `feast` is installed, on the same generated data.

Data: --entities entity rows (key, time, label) joined against --groups feature groups of --history rows
each (key, ISO event time, --features Fractional features, write_time, is_deleted), written as Parquet
files like the offline store's. Each engine runs in its own process; the figures are wall seconds and
that process's peak RSS.

    .venv/bin/python benchmarks/featurestore_pit.py                                   # the issue's size
    .venv/bin/python benchmarks/featurestore_pit.py --entities 100000 --history 1000000 \\
        --feast-python /tmp/feast-venv/bin/python      # Feast in its own venv (pip install feast)
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

START = 1_767_225_600  # 2026-01-01T00:00:00Z
SPAN = 180 * 86400


def iso(seconds: np.ndarray) -> pa.Array:
    return pa.array(seconds.astype("datetime64[s]")).cast(pa.string())


def generate(root: Path, entities: int, history: int, groups: int, features: int, keys: int) -> None:
    rng = np.random.default_rng(7)
    ent_t = START + rng.integers(0, SPAN, entities)
    pq.write_table(pa.table({"customer_id": pa.array(rng.integers(0, keys, entities)).cast(pa.string()),
                             "event_time": pa.compute.utf8_replace_slice(iso(ent_t), 19, 19, "Z"),
                             "label": rng.integers(0, 2, entities)}), root / "entities.parquet")
    for g in range(groups):
        gdir = root / f"g{g}"
        gdir.mkdir()
        for part in range(4):  # a few files per group, as flushes produce
            n = history // 4
            t = START + rng.integers(0, SPAN, n)
            cols: dict[str, Any] = {"customer_id": pa.array(rng.integers(0, keys, n)).cast(pa.string()),
                                    "event_time": pa.compute.utf8_replace_slice(iso(t), 19, 19, "Z")}
            for f in range(features):
                cols[f"g{g}_f{f}"] = rng.random(n)
            cols["write_time"] = pa.array((t + rng.integers(0, 3600, n)) * 1000).cast(pa.timestamp("ms"))
            cols["is_deleted"] = rng.random(n) < 0.001
            pq.write_table(pa.table(cols), gdir / f"part-{part}.parquet")


def run_kiln(root: str, groups: int, features: int) -> tuple[int, float]:
    from kiln.services.featurestore.pit_join import FeatureSource, pit_join

    t0 = time.perf_counter()
    base = Path(root)
    sources = [FeatureSource([str(p) for p in sorted((base / f"g{g}").glob("*.parquet"))], "customer_id",
                             "event_time", [f"g{g}_f{f}" for f in range(features)], api_time=None)
               for g in range(groups)]
    out = pit_join(pq.read_table(base / "entities.parquet"), "customer_id", "event_time", sources)
    return out.num_rows, time.perf_counter() - t0


def run_pandas(root: str, groups: int, features: int) -> tuple[int, float]:
    import pandas as pd

    t0 = time.perf_counter()
    base = Path(root)
    ent = pq.read_table(base / "entities.parquet").to_pandas()
    ent["t"] = pd.to_datetime(ent["event_time"], utc=True)
    ent = ent.sort_values("t")
    for g in range(groups):
        hist = pq.read_table(base / f"g{g}").to_pandas()
        hist["t"] = pd.to_datetime(hist["event_time"], utc=True)
        hist = hist.sort_values(["t", "write_time"]).drop_duplicates(["customer_id", "t"], keep="last")
        cols = [f"g{g}_f{f}" for f in range(features)]
        ent = pd.merge_asof(ent, hist[["customer_id", "t", "is_deleted", *cols]], on="t", by="customer_id",
                            direction="backward")
        ent.loc[ent["is_deleted"].fillna(False).astype(bool), cols] = np.nan
        ent = ent.drop(columns="is_deleted")
    return len(ent), time.perf_counter() - t0


def run_feast(root: str, groups: int, features: int) -> tuple[int, float]:
    from datetime import timedelta

    import pandas as pd
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, RepoConfig
    from feast.types import Float64
    from feast.value_type import ValueType

    t0 = time.perf_counter()
    base = Path(root)
    customer = Entity(name="customer", join_keys=["customer_id"], value_type=ValueType.STRING)
    views = []
    for g in range(groups):
        hist = pq.read_table(base / f"g{g}").to_pandas()
        hist["ts"] = pd.to_datetime(hist["event_time"], utc=True)
        path = base / f"feast_g{g}.parquet"
        hist.drop(columns=["event_time"]).to_parquet(path)
        source = FileSource(path=str(path), timestamp_field="ts", created_timestamp_column="write_time")
        views.append(FeatureView(name=f"g{g}", entities=[customer], ttl=timedelta(days=3650), source=source,
                                 schema=[Field(name=f"g{g}_f{f}", dtype=Float64) for f in range(features)]))
    store = FeatureStore(config=RepoConfig(project="bench", registry=str(base / "registry.db"), provider="local",
                                           offline_store={"type": "file"}, entity_key_serialization_version=3,
                                           online_store={"type": "sqlite", "path": str(base / "online.db")}))
    store.apply([customer, *views])
    ent = pq.read_table(base / "entities.parquet").to_pandas()
    ent["event_timestamp"] = pd.to_datetime(ent["event_time"], utc=True)
    refs = [f"g{g}:g{g}_f{f}" for g in range(groups) for f in range(features)]
    return len(store.get_historical_features(entity_df=ent, features=refs).to_df()), time.perf_counter() - t0


def _run_engine(engine: str, root: str, groups: int, features: int) -> None:
    """`--run-engine`: run one engine in this process and print one JSON line (its time excludes the
    interpreter start and imports, includes reading the Parquet files)."""
    try:
        rows, seconds = {"kiln": run_kiln, "pandas": run_pandas, "feast": run_feast}[engine](root, groups, features)
        error = None
    except Exception as exc:  # report, do not crash the benchmark
        rows, seconds, error = 0, 0.0, f"{type(exc).__name__}: {exc}"
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"engine": engine, "seconds": seconds, "rows": rows, "rss_kib": rss, "error": error}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--entities", type=int, default=1_000_000)
    ap.add_argument("--history", type=int, default=10_000_000, help="rows per feature group")
    ap.add_argument("--groups", type=int, default=3)
    ap.add_argument("--features", type=int, default=5, help="features per group")
    ap.add_argument("--keys", type=int, default=100_000, help="distinct record identifiers")
    ap.add_argument("--engines", default="kiln,pandas,feast")
    ap.add_argument("--feast-python", default=sys.executable,
                    help="a Python with `feast` installed (e.g. a separate venv: feast pins its own pandas)")
    ap.add_argument("--engine-timeout", type=float, default=None, help="seconds; an engine still running is stopped")
    ap.add_argument("--engine-memory-gib", type=float, default=None,
                    help="address-space cap per engine process (so a runaway engine cannot take the machine)")
    ap.add_argument("--run-engine", help=argparse.SUPPRESS)
    ap.add_argument("--root", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.run_engine:
        _run_engine(args.run_engine, args.root, args.groups, args.features)
        return
    with tempfile.TemporaryDirectory(prefix="kiln-bench-pit-") as tmp:
        t0 = time.perf_counter()
        generate(Path(tmp), args.entities, args.history, args.groups, args.features, args.keys)
        print(f"data: {args.entities:,} entity rows x {args.groups} groups x {args.history:,} history rows "
              f"({args.features} features each, {args.keys:,} keys), generated in {time.perf_counter() - t0:.1f}s",
              flush=True)
        for engine in args.engines.split(","):
            python = args.feast_python if engine == "feast" else sys.executable
            cmd = [python, __file__, "--run-engine", engine, "--root", tmp, "--groups", str(args.groups),
                   "--features", str(args.features)]
            cap = args.engine_memory_gib

            def limit(cap: float | None = cap) -> None:
                if cap:
                    resource.setrlimit(resource.RLIMIT_AS, (int(cap * 2**30), int(cap * 2**30)))

            try:
                done = subprocess.run(cmd, capture_output=True, text=True, timeout=args.engine_timeout,
                                      preexec_fn=limit)
            except subprocess.TimeoutExpired:
                print(f"{engine:>7}: did not finish within {args.engine_timeout:.0f} s (stopped)", flush=True)
                continue
            lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
            if not lines:
                tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
                print(f"{engine:>7}: not run ({tail})", flush=True)
                continue
            r = json.loads(lines[-1])
            status = f"FAILED ({r['error']})" if r["error"] else f"{r['rows']:,} rows"
            print(f"{engine:>7}: {r['seconds']:8.2f} s   peak RSS {r['rss_kib'] / 1024:8.0f} MiB   {status}",
                  flush=True)


if __name__ == "__main__":
    main()
