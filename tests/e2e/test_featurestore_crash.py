"""Kill the server (SIGKILL) during a large concurrent ingest, restart it: every acknowledged record is in
the online store and, exactly once, in the offline store (the flusher runs often, so the kill lands
mid-flush too)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from server_proc import ServerProcess

pytestmark = pytest.mark.slow

BUCKET = "kiln-crash-featurestore"
GROUP = "crash-ingest"
FAST_FLUSH = {"KILN_FEATURESTORE_FLUSH_INTERVAL_SECONDS": "0.2", "KILN_FEATURESTORE_FLUSH_ROWS": "150"}


def _record(i: int) -> list[dict[str, str]]:
    return [{"FeatureName": "id", "ValueAsString": f"r{i:06d}"},
            {"FeatureName": "event_time", "ValueAsString": f"2026-06-{1 + i % 28:02d}T{i % 24:02d}:00:00Z"},
            {"FeatureName": "value", "ValueAsString": str(i * 1.5)}, {"FeatureName": "n", "ValueAsString": str(i)}]


def _ingest(server: ServerProcess, start: int, acked: list[int], stop: threading.Event) -> None:
    rt = server.client("sagemaker-featurestore-runtime")
    i = start
    while not stop.is_set():
        try:
            rt.put_record(FeatureGroupName=GROUP, Record=_record(i))
        except (BotoCoreError, ClientError):
            return  # the server is gone: this write was not acknowledged
        acked.append(i)
        i += 4


def _query(server: ServerProcess, sql: str) -> list[list[str | None]]:
    athena = server.client("athena")
    qid = athena.start_query_execution(QueryString=sql, QueryExecutionContext={"Database": "sagemaker_featurestore"},
                                       ResultConfiguration={"OutputLocation": f"s3://{BUCKET}/q/"})["QueryExecutionId"]
    while (s := athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]["Status"])["State"] in (
            "QUEUED", "RUNNING"):
        time.sleep(0.05)
    assert s["State"] == "SUCCEEDED", s
    out: list[list[str | None]] = []
    for page in athena.get_paginator("get_query_results").paginate(QueryExecutionId=qid):
        out += [[d.get("VarCharValue") for d in r["Data"]] for r in page["ResultSet"]["Rows"]]
    return out[1:]


def test_sigkill_during_ingest_loses_no_acknowledged_record(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = ServerProcess(data, **FAST_FLUSH).wait_healthy()
    try:
        server.client("s3").create_bucket(Bucket=BUCKET)
        sm = server.client("sagemaker")
        sm.create_feature_group(
            FeatureGroupName=GROUP, RecordIdentifierFeatureName="id", EventTimeFeatureName="event_time",
            FeatureDefinitions=[{"FeatureName": "id", "FeatureType": "String"},
                                {"FeatureName": "event_time", "FeatureType": "String"},
                                {"FeatureName": "value", "FeatureType": "Fractional"},
                                {"FeatureName": "n", "FeatureType": "Integral"}],
            OnlineStoreConfig={"EnableOnlineStore": True},
            OfflineStoreConfig={"S3StorageConfig": {"S3Uri": f"s3://{BUCKET}/fs"}})
        while sm.describe_feature_group(FeatureGroupName=GROUP)["FeatureGroupStatus"] != "Created":
            time.sleep(0.1)
        acked: list[int] = []
        stop = threading.Event()
        writers = [threading.Thread(target=_ingest, args=(server, k, acked, stop)) for k in range(4)]
        for w in writers:
            w.start()
        deadline = time.time() + 60
        while len(acked) < 1200 and time.time() < deadline:
            time.sleep(0.05)
        server.kill()  # mid-ingest, and (with a flush every 0.2 s / 150 rows) most likely mid-flush
        stop.set()
        for w in writers:
            w.join(timeout=30)
    finally:
        if server.proc.poll() is None:
            server.kill()
    assert len(acked) >= 1200, len(acked)

    server = ServerProcess(data, port=None, **FAST_FLUSH).wait_healthy()
    try:
        rt = server.client("sagemaker-featurestore-runtime")
        ids = sorted(acked)
        online: dict[str, dict[str, str]] = {}
        for i in range(0, len(ids), 100):
            got = rt.batch_get_record(Identifiers=[{"FeatureGroupName": GROUP, "RecordIdentifiersValueAsString":
                                                    [f"r{x:06d}" for x in ids[i:i + 100]]}])
            assert got["Errors"] == []
            for r in got["Records"]:
                online[r["RecordIdentifierValueAsString"]] = {f["FeatureName"]: f["ValueAsString"] for f in r["Record"]}
        missing_online = [x for x in ids if f"r{x:06d}" not in online]
        assert missing_online == [], f"{len(missing_online)} acknowledged records missing online"
        assert all(online[f"r{x:06d}"]["n"] == str(x) for x in ids)
        rows = _query(server, f'SELECT id, n, count(*) FROM "{GROUP}" GROUP BY id, n')
        offline = {r[0]: (r[1], r[2]) for r in rows}
        missing_offline = [x for x in ids if f"r{x:06d}" not in offline]
        assert missing_offline == [], f"{len(missing_offline)} acknowledged records missing offline"
        assert all(offline[f"r{x:06d}"] == (str(x), "1") for x in ids), "a record was written twice"
    finally:
        server.terminate()
