"""Athena and Glue shapes <-> catalog and query-execution objects."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kiln.services.athena.models import CSV, CatalogDatabase, CatalogTable, Column, QueryExecution

_PARQUET_IO = ("org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
               "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
               "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe")
_CSV_IO = ("org.apache.hadoop.mapred.TextInputFormat",
           "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
           "org.apache.hadoop.hive.serde2.OpenCSVSerde")


def _dt(epoch: float | None) -> datetime | None:
    return datetime.fromtimestamp(epoch, tz=UTC) if epoch is not None else None


def query_execution(q: QueryExecution) -> dict[str, Any]:
    status: dict[str, Any] = {"State": q.state.value, "SubmissionDateTime": _dt(q.submitted_at)}
    if q.completed_at is not None:
        status["CompletionDateTime"] = _dt(q.completed_at)
    if q.state_reason:
        status["StateChangeReason"] = q.state_reason
        status["AthenaError"] = {"ErrorCategory": q.error_category or 2, "ErrorType": q.error_type or 1000,
                                 "Retryable": False, "ErrorMessage": q.state_reason}
    total = int(((q.completed_at or q.submitted_at) - q.submitted_at) * 1000)
    result: dict[str, Any] = {"OutputLocation": q.output_location} if q.output_location else {}
    if q.kms_key:
        result["EncryptionConfiguration"] = {"EncryptionOption": "SSE_KMS", "KmsKey": q.kms_key}
    return {
        "QueryExecutionId": q.id, "Query": q.query, "StatementType": q.statement_type,
        "ResultConfiguration": result,
        "QueryExecutionContext": {"Database": q.database, "Catalog": q.catalog},
        "Status": status,
        "Statistics": {"EngineExecutionTimeInMillis": q.engine_ms or 0, "DataScannedInBytes": q.scanned_bytes,
                       "TotalExecutionTimeInMillis": total, "QueryQueueTimeInMillis": 0,
                       "ServiceProcessingTimeInMillis": 0, "QueryPlanningTimeInMillis": 0},
        "WorkGroup": q.workgroup,
        "EngineVersion": {"SelectedEngineVersion": "AUTO", "EffectiveEngineVersion": "Athena engine version 3"},
    }


def row(values: list[str | None]) -> dict[str, Any]:
    return {"Data": [{} if v is None else {"VarCharValue": v} for v in values]}


def _column(c: Column) -> dict[str, Any]:
    out: dict[str, Any] = {"Name": c.name, "Type": c.type}
    if c.comment:
        out["Comment"] = c.comment
    return out


def table(t: CatalogTable, catalog_id: str) -> dict[str, Any]:
    inp, outp, serde = _CSV_IO if t.format == CSV else _PARQUET_IO
    desc: dict[str, Any] = {
        "Columns": [_column(c) for c in t.columns], "Location": t.location, "InputFormat": inp,
        "OutputFormat": outp, "Compressed": False, "NumberOfBuckets": -1,
        "SerdeInfo": {"SerializationLibrary": serde, "Parameters": dict(t.serde)},
        "BucketColumns": [], "SortColumns": [], "Parameters": {}, "StoredAsSubDirectories": False,
    }
    out: dict[str, Any] = {
        "Name": t.name, "DatabaseName": t.database, "CreateTime": _dt(t.created_at), "UpdateTime": _dt(t.updated_at),
        "Retention": 0, "StorageDescriptor": desc, "PartitionKeys": [_column(c) for c in t.partition_keys],
        "TableType": t.table_type, "Parameters": dict(t.parameters), "CreatedBy": "kiln",
        "IsRegisteredWithLakeFormation": False, "CatalogId": catalog_id, "VersionId": "0",
    }
    if t.description:
        out["Description"] = t.description
    return out


def table_in(database: str, d: dict[str, Any]) -> CatalogTable:
    sd = d.get("StorageDescriptor") or {}
    serde_info = sd.get("SerdeInfo") or {}
    lib = (serde_info.get("SerializationLibrary") or "").lower()
    fmt = CSV if ("csv" in lib or "lazysimple" in lib or "text" in (sd.get("InputFormat") or "").lower()) else "parquet"
    return CatalogTable(
        database=database, name=d["Name"], columns=[Column(c["Name"], c.get("Type", "string"), c.get("Comment"))
                                                    for c in sd.get("Columns", [])],
        location=sd.get("Location", ""), format=fmt, serde=dict(serde_info.get("Parameters") or {}),
        parameters=dict(d.get("Parameters") or {}), table_type=d.get("TableType", "EXTERNAL_TABLE"),
        partition_keys=[Column(c["Name"], c.get("Type", "string")) for c in d.get("PartitionKeys", [])],
        description=d.get("Description"))


def database(db: CatalogDatabase, catalog_id: str) -> dict[str, Any]:
    out: dict[str, Any] = {"Name": db.name, "Parameters": dict(db.parameters), "CreateTime": _dt(db.created_at),
                           "CatalogId": catalog_id, "CreateTableDefaultPermissions": []}
    if db.description:
        out["Description"] = db.description
    if db.location:
        out["LocationUri"] = db.location
    return out
