"""AWS shapes <-> Feature Store domain objects (the only place with PascalCase keys besides aws/)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kiln.services.featurestore.models import (
    CollectionType,
    FeatureDefinition,
    FeatureGroup,
    FeatureGroupSpec,
    FeatureMetadata,
    FeatureType,
    GroupStatus,
    OfflineStatus,
    OnlineConfig,
    Record,
    Ttl,
    Value,
)
from kiln.services.featurestore.records import WriteRequest


def _dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


def feature_in(d: dict[str, Any]) -> FeatureDefinition:
    dim = (d.get("CollectionConfig") or {}).get("VectorConfig", {}).get("Dimension")
    return FeatureDefinition(d["FeatureName"], FeatureType(d["FeatureType"]),
                             CollectionType(d["CollectionType"]) if d.get("CollectionType") else None, dim)


def feature_out(f: FeatureDefinition) -> dict[str, Any]:
    out: dict[str, Any] = {"FeatureName": f.name, "FeatureType": f.type.value}
    if f.collection is not None:
        out["CollectionType"] = f.collection.value
        if f.vector_dimension is not None:
            out["CollectionConfig"] = {"VectorConfig": {"Dimension": f.vector_dimension}}
    return out


def ttl_in(d: dict[str, Any] | None) -> Ttl | None:
    if not d or "Unit" not in d or "Value" not in d:
        return None
    return Ttl(d["Unit"], int(d["Value"]))


def online_in(d: dict[str, Any] | None) -> OnlineConfig | None:
    if d is None:
        return None
    return OnlineConfig(bool(d.get("EnableOnlineStore", False)), ttl_in(d.get("TtlDuration")), d.get("StorageType"),
                        (d.get("SecurityConfig") or {}).get("KmsKeyId"))


def spec(r: dict[str, Any]) -> FeatureGroupSpec:
    off = r.get("OfflineStoreConfig") or {}
    s3 = off.get("S3StorageConfig") or {}
    cat = off.get("DataCatalogConfig")
    return FeatureGroupSpec(
        name=r["FeatureGroupName"], record_id_name=r["RecordIdentifierFeatureName"],
        event_time_name=r["EventTimeFeatureName"], features=[feature_in(f) for f in r["FeatureDefinitions"]],
        online=online_in(r.get("OnlineStoreConfig")), offline_s3_uri=s3.get("S3Uri"),
        offline_kms_key_id=s3.get("KmsKeyId"), disable_glue=bool(off.get("DisableGlueTableCreation", False)),
        catalog=(cat["Catalog"], cat["Database"], cat["TableName"]) if cat else None,
        table_format=off.get("TableFormat"), role_arn=r.get("RoleArn"), description=r.get("Description"),
        throughput=r.get("ThroughputConfig"))


def _online_out(o: OnlineConfig) -> dict[str, Any]:
    out: dict[str, Any] = {"EnableOnlineStore": o.enabled}
    if o.ttl is not None:
        out["TtlDuration"] = {"Unit": o.ttl.unit, "Value": o.ttl.value}
    if o.storage_type:
        out["StorageType"] = o.storage_type
    if o.kms_key_id:
        out["SecurityConfig"] = {"KmsKeyId": o.kms_key_id}
    return out


def _offline_status(g: FeatureGroup) -> dict[str, Any] | None:
    if g.offline is None or g.status is not GroupStatus.CREATED:
        return None
    return {"Status": OfflineStatus.ACTIVE.value}


def describe(g: FeatureGroup, online_bytes: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "FeatureGroupArn": g.arn, "FeatureGroupName": g.name, "RecordIdentifierFeatureName": g.record_id_name,
        "EventTimeFeatureName": g.event_time_name, "FeatureDefinitions": [feature_out(f) for f in g.features],
        "CreationTime": _dt(g.created_at), "LastModifiedTime": _dt(g.modified_at),
        "FeatureGroupStatus": g.status.value, "NextToken": "",
    }
    if g.online is not None:
        out["OnlineStoreConfig"] = _online_out(g.online)
    if g.offline is not None:
        f = g.offline
        s3: dict[str, Any] = {"S3Uri": f.s3_uri, "ResolvedOutputS3Uri": f.resolved_uri}
        if f.kms_key_id:
            s3["KmsKeyId"] = f.kms_key_id
        offline: dict[str, Any] = {"S3StorageConfig": s3, "DisableGlueTableCreation": f.disable_glue,
                                   "DataCatalogConfig": {"TableName": f.table, "Catalog": f.catalog,
                                                         "Database": f.database}}
        if f.table_format:
            offline["TableFormat"] = f.table_format
        out["OfflineStoreConfig"] = offline
    status = _offline_status(g)
    if status:
        out["OfflineStoreStatus"] = status
    out["ThroughputConfig"] = g.throughput or {"ThroughputMode": "OnDemand"}
    for key, value in (("RoleArn", g.role_arn), ("Description", g.description),
                       ("FailureReason", g.failure_reason), ("OnlineStoreTotalSizeBytes", online_bytes)):
        if value is not None:
            out[key] = value
    if g.last_update:
        out["LastUpdateStatus"] = {"Status": g.last_update[0], **({"FailureReason": g.last_update[1]}
                                                                  if g.last_update[1] else {})}
    return out


def summary(g: FeatureGroup) -> dict[str, Any]:
    out: dict[str, Any] = {"FeatureGroupName": g.name, "FeatureGroupArn": g.arn, "CreationTime": _dt(g.created_at),
                           "FeatureGroupStatus": g.status.value}
    status = _offline_status(g)
    if status:
        out["OfflineStoreStatus"] = status
    return out


def metadata_out(g: FeatureGroup, f: FeatureDefinition, m: FeatureMetadata) -> dict[str, Any]:
    out: dict[str, Any] = {"FeatureGroupArn": g.arn, "FeatureGroupName": g.name, "FeatureName": f.name,
                           "FeatureType": f.type.value, "CreationTime": _dt(g.created_at),
                           "LastModifiedTime": _dt(m.modified_at or g.created_at),
                           "Parameters": [{"Key": k, "Value": v} for k, v in sorted(m.parameters.items())]}
    if m.description is not None:
        out["Description"] = m.description
    return out


# Runtime -------------------------------------------------------------------------------------

def pairs(record: list[dict[str, Any]]) -> list[tuple[str, Value | None]]:
    out: list[tuple[str, Value | None]] = []
    for fv in record:
        value = fv.get("ValueAsString")
        if value is None and "ValueAsStringList" in fv:
            value = list(fv["ValueAsStringList"])
        out.append((fv["FeatureName"], value))
    return out


def write_request(group: str, r: dict[str, Any]) -> WriteRequest:
    return WriteRequest(group, pairs(r["Record"]), r.get("TargetStores"), ttl_in(r.get("TtlDuration")))


def record_out(values: Record) -> list[dict[str, Any]]:
    return [{"FeatureName": k, "ValueAsStringList" if isinstance(v, list) else "ValueAsString": v}
            for k, v in values.items()]


def expires_at(epoch: float) -> str:
    dt = _dt(epoch)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"  # unverified format
