"""S3 data-path throughput: boto3 against a Kiln server subprocess on a temporary data directory.

Prints, for one object of --size-mib (default 1 GiB): upload_file and download_file MB/s next to a
plain shutil.copyfile of the same file on the same disk (with and without fsync), and for 1 KiB
objects: PUT and GET operations per second, sequential and with 8 client threads. Every figure is
the median of --reps runs. Page cache is warm (the file was just written); the server fsyncs every
object it stores, so the copy-with-fsync line is the fair disk baseline.

    .venv/bin/python benchmarks/s3_throughput.py --size-mib 256
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from botocore.config import Config
from kiln_server import KilnServer

MIB = 1024 * 1024


def make_file(path: Path, size: int) -> None:
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(8 * MIB, left)
            f.write(os.urandom(n))
            left -= n


def timed(fn: Callable[[], Any]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def copy_fsync(src: Path, dst: Path) -> None:
    shutil.copyfile(src, dst)
    with open(dst, "rb+") as f:
        os.fsync(f.fileno())


def median_rate(runs: list[float], size: int) -> str:
    return f"{size / MIB / statistics.median(runs):8.1f} MB/s   (runs: {', '.join(f'{r:.2f}s' for r in runs)})"


def small_ops(client: Any, bucket: str, n: int, threads: int) -> tuple[float, float]:
    body = os.urandom(1024)
    keys = [f"small/{i:06d}" for i in range(n)]

    def run(fn: Callable[[str], Any]) -> float:
        t = time.perf_counter()
        if threads == 1:
            for k in keys:
                fn(k)
        else:
            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(fn, keys))
        return n / (time.perf_counter() - t)

    put = run(lambda k: client.put_object(Bucket=bucket, Key=k, Body=body))
    get = run(lambda k: client.get_object(Bucket=bucket, Key=k)["Body"].read())
    return put, get


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="size of the large object (MiB)")
    parser.add_argument("--small-ops", type=int, default=2000, help="1 KiB PUTs (and GETs) per run")
    parser.add_argument("--reps", type=int, default=3, help="repetitions; medians are reported")
    parser.add_argument("--dir", type=Path, default=None, help="where to put the data (default: a temp dir)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="kiln-bench-", dir=args.dir))
    server = KilnServer(work / "data")
    try:
        client = server.client("s3", Config(max_pool_connections=16, retries={"max_attempts": 1}))
        client.create_bucket(Bucket="bench")
        size = args.size_mib * MIB
        src = work / "source.bin"
        make_file(src, size)
        copy, copy_sync, up, down = [], [], [], []
        for rep in range(args.reps):
            dst = work / f"copy-{rep}.bin"
            copy.append(timed(lambda d=dst: shutil.copyfile(src, d)))
            dst.unlink()
            copy_sync.append(timed(lambda d=dst: copy_fsync(src, d)))
            dst.unlink()
            up.append(timed(lambda r=rep: client.upload_file(str(src), "bench", f"big-{r}")))
            out = work / f"down-{rep}.bin"
            down.append(timed(lambda r=rep, o=out: client.download_file("bench", f"big-{r}", str(o))))
            out.unlink()
            client.delete_object(Bucket="bench", Key=f"big-{rep}")
        print(f"large object: {args.size_mib} MiB, {args.reps} runs, medians")
        print(f"  shutil.copyfile          {median_rate(copy, size)}")
        print(f"  copyfile + fsync         {median_rate(copy_sync, size)}")
        print(f"  boto3 upload_file        {median_rate(up, size)}")
        print(f"  boto3 download_file      {median_rate(down, size)}")
        for threads in (1, 8):
            puts, gets = [], []
            for _ in range(args.reps):
                p, g = small_ops(client, "bench", args.small_ops, threads)
                puts.append(p)
                gets.append(g)
            print(f"small objects: 1 KiB x {args.small_ops}, {threads} client thread(s), medians of {args.reps}")
            print(f"  PUT {statistics.median(puts):8.0f} ops/s   GET {statistics.median(gets):8.0f} ops/s")
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
