"""The seed's Feature Store example and a point-in-time training set, run with the real SageMaker SDK v2.

Each user script runs as a subprocess under the environment `kiln env` prints, unmodified apart from:
* data: the seed's two records carry event times inside the window its Athena query asks for
  (2026-01-01..2026-06-01), so the query returns them;
* the seed's `enable_offline_store=True` is dropped: SDK v2's `FeatureGroup.create()` has no such argument
  (TypeError, client side, against AWS too); the offline store is on because `s3_uri` is given;
* pandas 3 (pinned here): `load_feature_definitions` rejects the dtype "str" (it maps only "string" and
  "object"), and the dataset builder's DataFrame base accepts only "object" text columns; the scripts use
  `dtype="string"` and `.astype(object)` respectively (with pandas < 3 the seed's `dtype="str"` works as is).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from importlib import resources
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from kiln.services.featurestore.pit_join import FeatureSource, pit_join

pytestmark = [pytest.mark.sdk, pytest.mark.slow]

PREAMBLE = """
import boto3
import sagemaker
sess = sagemaker.Session()
role = sagemaker.get_execution_role()
bucket = sess.default_bucket()
"""

SEED = (resources.files("kiln.demo") / "project" / "feature_store.py").read_text()  # what `kiln demo` runs

DATASET = PREAMBLE + """
import datetime, json, time
import pandas as pd
from sagemaker.feature_store.feature_group import FeatureGroup
from sagemaker.feature_store.feature_store import FeatureStore

fg = FeatureGroup(name="customer-history", sagemaker_session=sess)
history = pd.DataFrame(json.load(open("history.json")))
fg.load_feature_definitions(data_frame=history.astype({"customer_id": "string", "event_time": "string"}))
fg.create(s3_uri=f"s3://{bucket}/feature-store/", record_identifier_name="customer_id",
          event_time_feature_name="event_time", role_arn=role, enable_online_store=True)
while fg.describe()["FeatureGroupStatus"] != "Created":
    time.sleep(1)
fg.ingest(data_frame=history, max_workers=4, wait=True)
fg.delete_record(record_identifier_value_as_string="C2", event_time="2026-02-01T00:00:00Z")

entities = pd.DataFrame(json.load(open("entities.json"))).astype({"customer_id": object, "event_time": object})
store = FeatureStore(sagemaker_session=sess)

def build():
    return (store.create_dataset(base=entities, output_path=f"s3://{bucket}/datasets",
                                 record_identifier_feature_name="customer_id",
                                 event_time_identifier_feature_name="event_time")
            .with_feature_group(fg, "customer_id", included_feature_names=["spend", "orders"])
            .point_in_time_accurate_join()
            .with_number_of_recent_records_by_record_identifier(1))

plain, _ = build().to_dataframe()
print("PLAIN", plain.sort_values("customer_id").to_json(orient="records"))
ranged, query = (build().as_of(datetime.datetime.now()).include_deleted_records()
                 .with_event_time_range(datetime.datetime(2026, 1, 10, tzinfo=datetime.timezone.utc),
                                        datetime.datetime(2026, 3, 15, tzinfo=datetime.timezone.utc))
                 .to_dataframe())
print("RANGED", ranged.sort_values("customer_id").to_json(orient="records"))
"""

HISTORY = {"customer_id": ["C1", "C1", "C1", "C2", "C3"],
           "spend": [10.0, 20.0, 40.0, 5.0, 7.0], "orders": [1, 2, 4, 1, 3],
           "event_time": ["2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z", "2026-04-01T00:00:00Z",
                          "2026-01-15T00:00:00Z", "2026-05-01T00:00:00Z"]}
ENTITIES = {"customer_id": ["C1", "C2", "C3", "C4"], "label": [1, 0, 1, 0],
            "event_time": ["2026-05-01T00:00:00Z", "2026-03-01T00:00:00Z", "2026-03-01T00:00:00Z",
                           "2026-03-01T00:00:00Z"]}


def _run(script: str, cwd: Path, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    (cwd / "user_script.py").write_text(textwrap.dedent(script))
    return subprocess.run([sys.executable, "user_script.py"], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def _line(out: str, tag: str) -> Any:
    return json.loads(next(line for line in out.splitlines() if line.startswith(tag + " "))[len(tag) + 1:])


def test_seed_feature_store_example(kiln_server: Any, tmp_path: Path) -> None:
    out = _run(SEED, tmp_path, kiln_server.env())
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "Feature Group is active" in out.stdout
    assert "{'total_spend_30d': '420.5', 'num_orders_30d': '5', 'avg_order_value': '84.1'}" in out.stdout
    assert _line(out.stdout, "STATE") == "SUCCEEDED"
    rows = _line(out.stdout, "ROWS")
    assert [(r["customer_id"], r["total_spend_30d"], r["num_orders_30d"], r["event_time"], r["is_deleted"])
            for r in rows] == [("C001", 420.5, 5, "2026-03-06T10:00:00Z", False),
                               ("C002", 112.0, 2, "2026-03-06T10:00:00Z", False)]
    assert all(r["write_time"] and r["api_invocation_time"] for r in rows)
    # the seed's own query (the group's name as its table, the seed's date window) ran and found both rows
    athena = kiln_server.client("athena")
    ids = athena.list_query_executions()["QueryExecutionIds"]
    seed_query = next(q for q in (athena.get_query_execution(QueryExecutionId=i)["QueryExecution"] for i in ids)
                      if 'FROM "customer-purchase-features"' in q["Query"])
    assert seed_query["Status"]["State"] == "SUCCEEDED"
    assert len(athena.get_query_results(QueryExecutionId=seed_query["QueryExecutionId"])["ResultSet"]["Rows"]) == 3
    # the point-in-time set: the Apr 1 label sees only the Mar 6 value, the May 1 label also the Apr 20 one
    # (the SDK's join keeps every earlier record unless limited); C002's only value is after its label
    assert [(r["customer_id"], r["event_time"], r["total_spend_30d.1"]) for r in _line(out.stdout, "TRAINING SET")
            ] == [("C001", "2026-04-01T00:00:00Z", 420.5), ("C001", "2026-05-01T00:00:00Z", 420.5),
                  ("C001", "2026-05-01T00:00:00Z", 510.0)]


def test_sdk_point_in_time_dataset_matches_kilns_join(kiln_server: Any, tmp_path: Path) -> None:
    (tmp_path / "history.json").write_text(json.dumps(HISTORY))
    (tmp_path / "entities.json").write_text(json.dumps(ENTITIES))
    out = _run(DATASET, tmp_path, kiln_server.env())
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    plain = [(r["customer_id"], r["spend.1"], r["orders.1"]) for r in _line(out.stdout, "PLAIN")]
    ranged = [(r["customer_id"], r["spend.1"], r["orders.1"]) for r in _line(out.stdout, "RANGED")]
    # C1 as of May 1: its April value; C2 was deleted (Feb 1) before its Mar 1 row; C3/C4 have nothing yet.
    assert plain == [("C1", 40.0, 4)]
    # The SDK applies the event-time range (Jan 10..Mar 15) to the entity rows too, so C1 (May 1) drops out;
    # with deleted records kept, C2 gets its Jan 15 value.
    assert ranged == [("C2", 5.0, 1)]
    # Kiln's own point-in-time join agrees on the same data (its LEFT join keeps entities without values).
    deleted = {"customer_id": ["C2"], "spend": [None], "orders": [None], "event_time": ["2026-02-01T00:00:00Z"]}
    hist = pa.table({k: HISTORY[k] + deleted[k] for k in HISTORY}).append_column(
        "is_deleted", pa.array([False] * 5 + [True]))
    entities = pa.table(ENTITIES)
    mine = pit_join(entities, "customer_id", "event_time",
                    [FeatureSource(hist, "customer_id", "event_time", ["spend", "orders"], write_time=None,
                                   api_time=None)])
    assert [(c, s, o) for c, s, o in zip(*(mine.column(n).to_pylist() for n in ("customer_id", "spend", "orders")),
                                         strict=True) if s is not None] == plain
