"""Athena and Glue with boto3 against a live server: Presto/Trino SQL over the offline store and over
CSV tables, results in S3 and through GetQueryResults, Athena's failure states, the Glue catalog."""

from __future__ import annotations

import csv
import io
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError
from test_featurestore import BUCKET, create

OUT = f"s3://{BUCKET}/athena-results/"
FS_DB = "sagemaker_featurestore"


def run(athena: Any, sql: str, database: str = FS_DB, output: str = OUT) -> dict[str, Any]:
    qid = athena.start_query_execution(QueryString=sql, QueryExecutionContext={"Database": database,
                                                                              "Catalog": "AwsDataCatalog"},
                                       ResultConfiguration={"OutputLocation": output})["QueryExecutionId"]
    deadline = time.time() + 60
    while True:
        q = athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]
        if q["Status"]["State"] not in ("QUEUED", "RUNNING") or time.time() > deadline:
            return dict(q)
        time.sleep(0.05)


def rows(athena: Any, qid: str, **kw: Any) -> list[list[str | None]]:
    out = []
    for page in athena.get_paginator("get_query_results").paginate(QueryExecutionId=qid, **kw):
        out += [[d.get("VarCharValue") for d in r["Data"]] for r in page["ResultSet"]["Rows"]]
    return out


@pytest.fixture(scope="module")
def clients(aws_client: Any) -> tuple[Any, Any, Any, Any]:
    s3 = aws_client("s3")
    if BUCKET not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        s3.create_bucket(Bucket=BUCKET)
    return aws_client("athena"), aws_client("glue"), s3, aws_client("sagemaker")


@pytest.fixture(scope="module")
def group(clients: tuple[Any, Any, Any, Any], aws_client: Any) -> dict[str, Any]:
    _, _, _, sm = clients
    desc = create(sm, "athena-contract-group")
    rt = aws_client("sagemaker-featurestore-runtime")
    for cid, when, spend, orders in (("c1", "2026-01-10T10:00:00Z", 10.5, 1), ("c1", "2026-03-01T10:00:00Z", 20.0, 2),
                                     ("c2", "2026-02-01T00:00:00Z", 5.25, 7), ("c3", "2026-07-01T00:00:00Z", 1.0, 1)):
        rt.put_record(FeatureGroupName="athena-contract-group", Record=[
            {"FeatureName": "customer_id", "ValueAsString": cid},
            {"FeatureName": "event_time", "ValueAsString": when}, {"FeatureName": "spend", "ValueAsString": str(spend)},
            {"FeatureName": "orders", "ValueAsString": str(orders)}])
    return dict(desc)


def test_glue_catalog_describes_the_offline_store(clients: Any, group: dict[str, Any]) -> None:
    _, glue, _, _ = clients
    table = group["OfflineStoreConfig"]["DataCatalogConfig"]["TableName"]
    assert glue.get_database(Name=FS_DB)["Database"]["Name"] == FS_DB
    assert FS_DB in [d["Name"] for d in glue.get_databases()["DatabaseList"]]
    t = glue.get_table(DatabaseName=FS_DB, Name=table)["Table"]
    assert t["StorageDescriptor"]["Location"] == group["OfflineStoreConfig"]["S3StorageConfig"]["ResolvedOutputS3Uri"]
    assert [(c["Name"], c["Type"]) for c in t["StorageDescriptor"]["Columns"]] == [
        ("customer_id", "string"), ("event_time", "string"), ("spend", "double"), ("orders", "bigint"),
        ("write_time", "timestamp"), ("api_invocation_time", "timestamp"), ("is_deleted", "boolean")]
    assert "Parquet" in t["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"]
    assert table in [x["Name"] for x in glue.get_tables(DatabaseName=FS_DB, Expression="athena_contract*")["TableList"]]
    with pytest.raises(ClientError) as exc:
        glue.get_table(DatabaseName=FS_DB, Name="nope")
    assert exc.value.response["Error"]["Code"] == "EntityNotFoundException"
    with pytest.raises(ClientError) as exc:
        glue.get_database(Name="nope")
    assert exc.value.response["Error"]["Code"] == "EntityNotFoundException"


def test_presto_query_results_csv_and_pages(clients: Any, group: dict[str, Any]) -> None:
    athena, _, s3, _ = clients
    table = group["OfflineStoreConfig"]["DataCatalogConfig"]["TableName"]
    q = run(athena, f"""SELECT customer_id, spend, orders, from_iso8601_timestamp(event_time) AS t,
                          date_format(from_iso8601_timestamp(event_time), '%Y-%m') AS month, NOT is_deleted AS live
                        FROM "{FS_DB}"."{table}"
                        WHERE from_iso8601_timestamp(event_time) < from_unixtime(1782864000)  -- 2026-07-01
                        ORDER BY customer_id, event_time""")
    assert q["Status"]["State"] == "SUCCEEDED", q["Status"]
    assert q["StatementType"] == "DML" and q["Statistics"]["DataScannedInBytes"] > 0
    qid = q["QueryExecutionId"]
    assert q["ResultConfiguration"]["OutputLocation"] == f"{OUT}{qid}.csv"
    expected = [["customer_id", "spend", "orders", "t", "month", "live"],
                ["c1", "10.5", "1", "2026-01-10 10:00:00.000 UTC", "2026-01", "true"],
                ["c1", "20.0", "2", "2026-03-01 10:00:00.000 UTC", "2026-03", "true"],
                ["c2", "5.25", "7", "2026-02-01 00:00:00.000 UTC", "2026-02", "true"]]
    assert rows(athena, qid) == expected
    assert rows(athena, qid, PaginationConfig={"PageSize": 2}) == expected
    first = athena.get_query_results(QueryExecutionId=qid, MaxResults=2)
    assert len(first["ResultSet"]["Rows"]) == 2 and "NextToken" in first
    info = first["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]
    assert [(c["Name"], c["Type"]) for c in info] == [("customer_id", "varchar"), ("spend", "double"),
                                                      ("orders", "bigint"), ("t", "timestamp with time zone"),
                                                      ("month", "varchar"), ("live", "boolean")]
    body = s3.get_object(Bucket=BUCKET, Key=f"athena-results/{qid}.csv")["Body"].read().decode()
    assert body.splitlines()[0] == '"customer_id","spend","orders","t","month","live"'
    assert list(csv.reader(io.StringIO(body))) == expected
    s3.head_object(Bucket=BUCKET, Key=f"athena-results/{qid}.csv.metadata")


def test_group_name_alias_and_aggregates(clients: Any, group: dict[str, Any]) -> None:
    """Kiln-only: the seed queries `FROM "<feature group name>"`; Kiln resolves it to the group's table."""
    athena = clients[0]
    q = run(athena, 'SELECT customer_id, count(*) AS n, max(spend) AS top, approx_distinct(orders) AS d '
                    'FROM "athena-contract-group" WHERE event_time BETWEEN \'2026-01-01\' AND \'2026-06-01\' '
                    'GROUP BY customer_id ORDER BY 1')
    assert q["Status"]["State"] == "SUCCEEDED", q["Status"]
    assert rows(athena, q["QueryExecutionId"])[1:] == [["c1", "2", "20.0", "2"], ["c2", "1", "5.25", "1"]]


def test_failures_end_failed_with_athena_error_text(clients: Any, group: dict[str, Any]) -> None:
    athena = clients[0]
    cases = [("SELECT * FROM no_such_table", "TABLE_NOT_FOUND: line 1:15: Table "
                                             "'awsdatacatalog.sagemaker_featurestore.no_such_table' does not exist"),
             ('SELECT nope FROM "athena-contract-group"', "COLUMN_NOT_FOUND: line 1:8: Column 'nope' cannot be "
                                                          "resolved"),
             ("SELEC 1", "SYNTAX_ERROR"),
             ("SELECT CAST('x' AS integer)", "INVALID_CAST_ARGUMENT")]
    for sql, message in cases:
        q = run(athena, sql)
        assert q["Status"]["State"] == "FAILED", sql
        assert q["Status"]["StateChangeReason"].startswith(message), q["Status"]["StateChangeReason"]
        assert q["Status"]["AthenaError"]["ErrorMessage"] == q["Status"]["StateChangeReason"]
        with pytest.raises(ClientError) as exc:
            athena.get_query_results(QueryExecutionId=q["QueryExecutionId"])
        assert exc.value.response["Error"]["Code"] == "InvalidRequestException"
    with pytest.raises(ClientError) as exc:
        athena.start_query_execution(QueryString="SELECT 1; SELECT 2", ResultConfiguration={"OutputLocation": OUT})
    assert exc.value.response["Error"]["Message"].startswith("Only one sql statement is allowed")
    with pytest.raises(ClientError) as exc:
        athena.start_query_execution(QueryString="SELECT 1")
    assert exc.value.response["Error"]["Code"] == "InvalidRequestException"
    assert "output location" in exc.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as exc:
        athena.get_query_execution(QueryExecutionId="00000000-0000-0000-0000-000000000000")
    assert exc.value.response["Error"]["Code"] == "InvalidRequestException"


def test_stop_query_execution_cancels(clients: Any) -> None:
    athena = clients[0]
    qid = athena.start_query_execution(
        QueryString="SELECT count(*) FROM UNNEST(sequence(1, 30000)) AS a(x) CROSS JOIN UNNEST(sequence(1, 30000)) "
                    "AS b(y) CROSS JOIN UNNEST(sequence(1, 1000)) AS c(z)",
        ResultConfiguration={"OutputLocation": OUT})["QueryExecutionId"]
    time.sleep(0.3)
    athena.stop_query_execution(QueryExecutionId=qid)
    deadline = time.time() + 30
    while (state := athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]["Status"]["State"]) in (
            "QUEUED", "RUNNING") and time.time() < deadline:
        time.sleep(0.05)
    assert state == "CANCELLED"
    assert qid in athena.list_query_executions()["QueryExecutionIds"]


def test_csv_external_table_ddl(clients: Any) -> None:
    athena, glue, s3, _ = clients
    s3.put_object(Bucket=BUCKET, Key="csvtable/part-0.csv", Body=b"c1,2026-01-01,1.5\n`c,2`,2026-01-02,2.5\n")
    s3.put_object(Bucket=BUCKET, Key="csvtable/_SUCCESS", Body=b"x")
    ddl = run(athena, "CREATE EXTERNAL TABLE kiln_csv_t (id STRING, day STRING, v DOUBLE) ROW FORMAT SERDE "
                      "'org.apache.hadoop.hive.serde2.OpenCSVSerde' WITH SERDEPROPERTIES (\"separatorChar\" = \",\", "
                      f"\"quoteChar\" = \"`\", \"escapeChar\" = \"\\\\\") LOCATION 's3://{BUCKET}/csvtable';")
    assert ddl["Status"]["State"] == "SUCCEEDED", ddl["Status"]
    assert ddl["StatementType"] == "DDL" and ddl["ResultConfiguration"]["OutputLocation"].endswith(".txt")
    assert glue.get_table(DatabaseName=FS_DB, Name="kiln_csv_t")["Table"]["StorageDescriptor"]["Columns"][2] == {
        "Name": "v", "Type": "double"}
    q = run(athena, "SELECT id, v * 2 AS v2 FROM kiln_csv_t ORDER BY id")
    assert rows(athena, q["QueryExecutionId"]) == [["id", "v2"], ["c,2", "5.0"], ["c1", "3.0"]]
    again = run(athena, "CREATE EXTERNAL TABLE kiln_csv_t (id STRING) LOCATION 's3://x/y'")
    assert again["Status"]["State"] == "FAILED"
    assert run(athena, "DROP TABLE kiln_csv_t")["Status"]["State"] == "SUCCEEDED"
    assert run(athena, "SELECT * FROM kiln_csv_t")["Status"]["State"] == "FAILED"
    show = run(athena, "SHOW TABLES")
    assert show["Status"]["State"] == "SUCCEEDED"
