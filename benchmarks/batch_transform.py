"""Batch transform throughput: rows per second of a Kiln transform job over a CSV (default 1 M rows x
10 features, one `SplitType=Line` object) against calling the model's predict directly on the same
rows in one process. The model is a real XGBoost booster (`--trees` trees of depth 6) served by Kiln's
built-in XGBoost image, as a SageMaker user would batch-score it.

Systems, timed round by round (interleaved), medians reported:

  in-process predict      `booster.predict(DMatrix(X))` on the rows already parsed into float32 (the
                          Booster's `predict`, which wants a DMatrix)
  in-process inplace      `booster.inplace_predict(X)` on the same rows: no DMatrix copy (what
                          `XGBRegressor.predict` does, and what Kiln's built-in container does); the
                          faster of the two is the strict limit the ratio divides by
  in-process csv+predict  the faster predict plus reading the CSV with pyarrow (what a scoring script does)
  kiln transform          one instance (ml.m5.xlarge), MultiRecord batches of `--payload-mb`, up to
                          `--concurrent` requests in flight. Two timings: the transform phase
                          (TransformStartTime -> TransformEndTime, model server already up) and the
                          whole job as the client sees it (CreateTransformJob -> Completed)

`--container script` serves the same booster in script mode instead (the XGBoost framework image with
an inference.py whose input_fn/output_fn read and write CSV with pyarrow): the same transform
machinery with another container codec.

The ratio line divides Kiln's rows/s by the faster in-process predict's (goal: >= 0.8 with one
instance). Both sides use the same cores: in-process XGBoost runs one thread per host CPU; the
instance's model server runs the transform runner's worker processes (one per request in flight, up to
the instance's vCPUs and the host's CPUs), whose math threads share those CPUs (printed). The outputs
are checked against the in-process predictions: the same values, and the same bytes as SageMaker's
container writes (`repr` of each prediction, one per line) for the built-in container.

"Where the time goes" splits one request's worth of rows: the built-in container's CSV parse, predict
and CSV encode (its own functions, called in-process with one worker's threads). CPU seconds per job:
the Kiln server process (reading and splitting the object, the HTTP hop, assembling and storing the
output, the API, this benchmark's 10 Hz DescribeTransformJob polling) and the job's model-server
processes (their start, imports and model load included). The kiln side is CPU-bound: the transform
phase is about (its CPU seconds) / (CPUs), so the ratio is bounded by predict's share of that CPU.

    python benchmarks/batch_transform.py [--rows 1000000] [--rounds 3] [--payload-mb 6] [--concurrent 4]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb
from botocore.config import Config
from kiln_server import KilnServer

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
ROLE = "arn:aws:iam::123456789012:role/KilnExecutionRole"
BUCKET = "bench-transform"
INSTANCE = "ml.m5.xlarge"
SCRIPT_INFERENCE = """
import io, os
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import xgboost as xgb

def model_fn(model_dir):
    booster = xgb.Booster()
    booster.load_model(os.path.join(model_dir, "xgboost-model"))
    return booster

def input_fn(body, content_type):
    data = body.encode() if isinstance(body, str) else body
    table = pacsv.read_csv(io.BytesIO(data), read_options=pacsv.ReadOptions(autogenerate_column_names=True))
    table = table.cast(pa.schema([(n, pa.float32()) for n in table.column_names]))
    return xgb.DMatrix(np.column_stack([c.to_numpy() for c in table.columns]))

def predict_fn(data, model):
    return model.predict(data, validate_features=False)

def output_fn(prediction, accept):
    out = io.BytesIO()
    pacsv.write_csv(pa.table({"p": prediction}), out, write_options=pacsv.WriteOptions(include_header=False))
    return out.getvalue(), "text/csv"
"""


def make_model(features: int, trees: int, work: Path, script: bool = False) -> tuple[xgb.Booster, bytes]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50_000, features)).astype(np.float32)
    y = np.sin(x[:, 0]) + x[:, 1] * x[:, 2] + rng.normal(scale=0.1, size=len(x))
    booster = xgb.train({"objective": "reg:squarederror", "max_depth": 6, "eta": 0.1}, xgb.DMatrix(x, label=y), trees)
    path = work / "xgboost-model"
    booster.save_model(str(path.with_suffix(".json")))
    path.with_suffix(".json").rename(path)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(path, arcname="xgboost-model")
        if script:
            code = work / "inference.py"
            code.write_text(SCRIPT_INFERENCE)
            tar.add(code, arcname="code/inference.py")
    return booster, buf.getvalue()


def make_csv(rows: int, features: int, path: Path) -> None:
    rng = np.random.default_rng(1)
    with open(path, "w") as f:
        for start in range(0, rows, 100_000):
            block = rng.normal(size=(min(100_000, rows - start), features))
            np.savetxt(f, block, delimiter=",", fmt="%.4f")


def read_csv(path: Path) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    table = pacsv.read_csv(path, read_options=pacsv.ReadOptions(autogenerate_column_names=True))
    table = table.cast(pa.schema([(n, pa.float32()) for n in table.column_names]))
    return np.column_stack([c.to_numpy() for c in table.columns])


class Server(KilnServer):
    """The benchmark's Kiln server: its log in the work dir, clients that wait for long jobs."""

    def __init__(self, work: Path) -> None:
        super().__init__(work / "data", log=work / "server.log")

    def client(self, service: str, config: Config | None = None) -> Any:
        return super().client(service, config or Config(retries={"max_attempts": 1}, read_timeout=600))


def container_split(booster: xgb.Booster, csv_path: Path, payload_mb: int, threads: int) -> dict[str, float]:
    """Seconds of the built-in container's parse / predict / encode for one payload of rows (median of 3),
    with the math threads one of its workers gets."""
    from kiln.algorithms.xgboost import serve

    with open(csv_path, "rb") as f:
        body = f.read(payload_mb * 1024 * 1024)
    body = body[:body.rfind(b"\n") + 1]
    worker = booster.copy()
    worker.set_param("nthread", threads)
    runs: dict[str, list[float]] = {"parse": [], "predict": [], "encode": []}
    for _ in range(3):
        t0 = time.perf_counter()
        rows = serve.parse_payload(body, "text/csv")
        t1 = time.perf_counter()
        predictions = serve.predict(worker, rows)
        t2 = time.perf_counter()
        serve.encode(predictions, "text/csv", worker, batch=True, selected=None)
        t3 = time.perf_counter()
        for key, value in (("parse", t1 - t0), ("predict", t2 - t1), ("encode", t3 - t2)):
            runs[key].append(value)
    return {"rows": body.count(b"\n"), **{k: statistics.median(v) for k, v in runs.items()}}


def kiln_workers(args: argparse.Namespace) -> tuple[int, int]:
    """(worker processes, math threads each) the transform runner gives the job's one instance."""
    from kiln.core.instances import lookup
    from kiln.services.transform.runner import worker_count

    cpus = os.cpu_count() or 1
    spec = {"MaxConcurrentTransforms": args.concurrent, "TransformResources": {"InstanceType": INSTANCE}}
    workers = worker_count(spec, {"PrimaryContainer": {}}, cpus)
    return workers, max(1, min(lookup(INSTANCE).vcpu, cpus) // workers)


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(the process's own CPU seconds, its finished children's: the model servers of ended jobs)."""
    fields = [int(f) for f in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[11:15]]
    tick = os.sysconf("SC_CLK_TCK")
    return (fields[0] + fields[1]) / tick, (fields[2] + fields[3]) / tick


def reaped_cpu(pid: int) -> float:
    """The server's finished children's CPU seconds once the job's model servers have all exited (the
    figure moved, then stayed put for a second)."""
    start = last = cpu_seconds(pid)[1]
    steady, deadline = time.time(), time.time() + 30
    while time.time() < deadline and (last == start or time.time() - steady < 1.0):
        time.sleep(0.1)
        now = cpu_seconds(pid)[1]
        if now != last:
            last, steady = now, time.time()
    return last


def run_job(sm: Any, name: str, args: argparse.Namespace) -> tuple[float, float]:
    """(transform-phase seconds, whole-job seconds as the client sees it)."""
    started = time.perf_counter()
    sm.create_transform_job(
        TransformJobName=name, ModelName="bench-xgb", BatchStrategy="MultiRecord", MaxPayloadInMB=args.payload_mb,
        MaxConcurrentTransforms=args.concurrent,
        TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/input/"}},
                        "ContentType": "text/csv", "SplitType": "Line"},
        TransformOutput={"S3OutputPath": f"s3://{BUCKET}/output/{name}", "AssembleWith": "Line", "Accept": "text/csv"},
        TransformResources={"InstanceType": INSTANCE, "InstanceCount": 1})
    while True:
        desc = sm.describe_transform_job(TransformJobName=name)
        if desc["TransformJobStatus"] != "InProgress":
            break
        time.sleep(0.1)
    whole = time.perf_counter() - started
    if desc["TransformJobStatus"] != "Completed":
        raise RuntimeError(f"{name}: {desc['TransformJobStatus']}: {desc.get('FailureReason')}")
    phase = (desc["TransformEndTime"] - desc["TransformStartTime"]).total_seconds()
    return phase, whole


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--features", type=int, default=10)
    ap.add_argument("--trees", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--payload-mb", type=int, default=6)
    ap.add_argument("--concurrent", type=int, default=4)
    ap.add_argument("--container", choices=("builtin", "script"), default="builtin")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="kiln-bench-transform-") as tmp:
        work = Path(tmp)
        booster, archive = make_model(args.features, args.trees, work, script=args.container == "script")
        csv_path = work / "input.csv"
        make_csv(args.rows, args.features, csv_path)
        x = read_csv(csv_path)
        cpus = os.cpu_count() or 1
        booster.set_param("nthread", cpus)  # in-process: every host CPU (XGBoost's default, said explicitly)
        workers, threads = kiln_workers(args)
        print(f"{args.rows:,} rows x {args.features} features, {csv_path.stat().st_size / 1e6:.0f} MB CSV; XGBoost "
              f"{args.trees} trees depth 6; {args.container} container; {cpus} CPUs: in-process {cpus} threads, "
              f"kiln {workers} worker process(es) x {threads} thread(s)", flush=True)
        server = Server(work)
        try:
            s3, sm = server.client("s3"), server.client("sagemaker")
            s3.create_bucket(Bucket=BUCKET)
            s3.put_object(Bucket=BUCKET, Key="model/model.tar.gz", Body=archive)
            s3.upload_file(str(csv_path), BUCKET, "input/input.csv")
            env = ({"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"}
                   if args.container == "script" else {})
            sm.create_model(ModelName="bench-xgb", ExecutionRoleArn=ROLE, PrimaryContainer={
                "Image": IMAGE, "ModelDataUrl": f"s3://{BUCKET}/model/model.tar.gz", "Environment": env})
            run_job(sm, "warmup", args)  # unpacks the model into the cache once; not timed
            times: dict[str, list[float]] = {"predict": [], "inplace": [], "csv+predict": [], "phase": [],
                                             "whole": [], "server_cpu": [], "container_cpu": []}
            expected = None
            for r in range(args.rounds):
                t = time.perf_counter()
                expected = booster.predict(xgb.DMatrix(x))
                times["predict"].append(time.perf_counter() - t)
                t = time.perf_counter()
                inplace = booster.inplace_predict(x)
                times["inplace"].append(time.perf_counter() - t)
                assert np.array_equal(inplace, expected)
                t = time.perf_counter()
                booster.inplace_predict(read_csv(csv_path))
                times["csv+predict"].append(time.perf_counter() - t)
                own, children = cpu_seconds(server.proc.pid)
                phase, whole = run_job(sm, f"round-{r}", args)
                times["server_cpu"].append(cpu_seconds(server.proc.pid)[0] - own)
                times["container_cpu"].append(reaped_cpu(server.proc.pid) - children)
                times["phase"].append(phase)
                times["whole"].append(whole)
                print(f"round {r}: predict {times['predict'][-1]:.2f}s  inplace {times['inplace'][-1]:.2f}s  "
                      f"csv+predict {times['csv+predict'][-1]:.2f}s  transform phase {phase:.2f}s  "
                      f"whole job {whole:.2f}s", flush=True)
            body = s3.get_object(Bucket=BUCKET, Key="output/round-0/input.csv.out")["Body"].read()
            got = np.array(body.split(), dtype=np.float32)
            assert expected is not None and len(got) == args.rows, (len(got), args.rows)
            np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
            same_bytes = body == "".join(f"{v!r}\n" for v in expected.tolist()).encode()
            if args.container == "builtin":
                assert same_bytes, "the built-in container's output differs from SageMaker's formatting"
            split = (container_split(booster, csv_path, args.payload_mb, threads) if args.container == "builtin"
                     else None)
        finally:
            server.stop()
    med = {k: statistics.median(v) for k, v in times.items()}
    rate = {k: args.rows / v for k, v in med.items()}
    limit = min(("predict", "inplace"), key=lambda k: med[k])
    print(f"\nmedians of {args.rounds} rounds (rows/s):")
    print(f"  in-process predict       {rate['predict']:>12,.0f}   ({med['predict']:.2f} s, DMatrix + predict)")
    print(f"  in-process inplace       {rate['inplace']:>12,.0f}   ({med['inplace']:.2f} s, inplace_predict)")
    print(f"  in-process csv+predict   {rate['csv+predict']:>12,.0f}   ({med['csv+predict']:.2f} s)")
    print(f"  kiln transform phase     {rate['phase']:>12,.0f}   ({med['phase']:.2f} s)")
    print(f"  kiln whole job           {rate['whole']:>12,.0f}   ({med['whole']:.2f} s, model server start included)")
    print(f"ratio kiln transform / in-process {limit} (the faster): {rate['phase'] / rate[limit]:.2f} "
          f"(vs DMatrix predict: {rate['phase'] / rate['predict']:.2f}; whole job: {rate['whole'] / rate[limit]:.2f}; "
          f"vs csv+predict: {rate['phase'] / rate['csv+predict']:.2f})  [goal >= 0.8]")
    print(f"outputs match in-process predictions: yes; byte-identical to SageMaker's formatting: "
          f"{'yes' if same_bytes else 'no'}")
    print(f"  CPU s per job: kiln server process {med['server_cpu']:.2f}, model server processes "
          f"{med['container_cpu']:.2f} (their start and model load included)")
    if split is None:
        return 0
    per = args.rows / split["rows"]
    print(f"\nwhere the time goes, per {args.rows:,} rows ({per:.0f} requests of {split['rows']:,} rows):")
    print(f"  container: CSV parse {split['parse'] * per:.2f} s, predict {split['predict'] * per:.2f} s, "
          f"CSV encode {split['encode'] * per:.2f} s (one process, {threads} thread(s), in-process timing)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
