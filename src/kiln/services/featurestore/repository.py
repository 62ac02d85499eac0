"""Feature-group rows <-> FeatureGroup, with compare-and-set on the status."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from kiln.core.errors import Conflict, NotFound
from kiln.core.scope import Scope
from kiln.core.state.db import Database
from kiln.services.featurestore.models import (
    CollectionType,
    FeatureDefinition,
    FeatureGroup,
    FeatureMetadata,
    FeatureType,
    GroupStatus,
    OfflineConfig,
    OnlineConfig,
    Ttl,
)
from kiln.services.featurestore.tables import feature_groups as T


def _to_doc(g: FeatureGroup) -> dict[str, Any]:
    online = None
    if g.online is not None:
        o = g.online
        online = {"enabled": o.enabled, "ttl": [o.ttl.unit, o.ttl.value] if o.ttl else None,
                  "storage_type": o.storage_type, "kms_key_id": o.kms_key_id}
    offline = None
    if g.offline is not None:
        f = g.offline
        offline = {"s3_uri": f.s3_uri, "resolved_uri": f.resolved_uri, "catalog": f.catalog,
                   "database": f.database, "table": f.table, "disable_glue": f.disable_glue,
                   "table_format": f.table_format, "kms_key_id": f.kms_key_id}
    return {
        "record_id_name": g.record_id_name, "event_time_name": g.event_time_name,
        "features": [[f.name, f.type.value, f.collection.value if f.collection else None, f.vector_dimension]
                     for f in g.features],
        "online": online, "offline": offline, "role_arn": g.role_arn, "description": g.description,
        "throughput": g.throughput, "last_update": list(g.last_update) if g.last_update else None,
        "metadata": {k: {"description": m.description, "parameters": m.parameters, "modified_at": m.modified_at}
                     for k, m in g.metadata.items()},
    }


def _from_row(row: Any) -> FeatureGroup:
    m = row._mapping
    d = m["doc"]
    online = None
    if d["online"] is not None:
        o = d["online"]
        online = OnlineConfig(o["enabled"], Ttl(*o["ttl"]) if o["ttl"] else None, o["storage_type"],
                              o["kms_key_id"])
    offline = OfflineConfig(**d["offline"]) if d["offline"] is not None else None
    return FeatureGroup(
        scope=Scope(m["account_id"], m["region"]), name=m["name"], store_id=m["store_id"],
        record_id_name=d["record_id_name"], event_time_name=d["event_time_name"],
        features=[FeatureDefinition(n, FeatureType(t), CollectionType(c) if c else None, dim)
                  for n, t, c, dim in d["features"]],
        online=online, offline=offline, status=GroupStatus(m["status"]), created_at=m["created_at"],
        modified_at=m["modified_at"], role_arn=d["role_arn"], description=d["description"],
        throughput=d["throughput"], failure_reason=m["failure_reason"],
        last_update=tuple(d["last_update"]) if d["last_update"] else None,  # type: ignore[arg-type]
        metadata={k: FeatureMetadata(v["description"], dict(v["parameters"]), v["modified_at"])
                  for k, v in d["metadata"].items()},
        last_ingest_at=m["last_ingest_at"],
    )


def _row(g: FeatureGroup) -> dict[str, Any]:
    return {"account_id": g.scope.account_id, "region": g.scope.region, "name": g.name,
            "name_lower": g.name.lower(), "store_id": g.store_id, "doc": _to_doc(g), "status": g.status.value,
            "failure_reason": g.failure_reason, "created_at": g.created_at, "modified_at": g.modified_at,
            "last_ingest_at": g.last_ingest_at}


def _in_scope(scope: Scope) -> Any:
    return sa.and_(T.c.account_id == scope.account_id, T.c.region == scope.region)


class FeatureGroupRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def insert(self, group: FeatureGroup) -> bool:
        """False when a group of that name (case-insensitively) exists in the scope."""
        with self.db.tx() as conn:
            if conn.execute(sa.select(T.c.name).where(_in_scope(group.scope),
                                                      T.c.name_lower == group.name.lower())).first():
                return False
            conn.execute(T.insert().values(**_row(group)))
        return True

    def get(self, scope: Scope, name: str) -> FeatureGroup:
        """By name, case-insensitively. Raises NotFound."""
        with self.db.read() as conn:
            row = conn.execute(sa.select(T).where(_in_scope(scope), T.c.name_lower == name.lower())).first()
        if row is None:
            raise NotFound("FeatureGroup", name, f"Resource Not Found: Amazon SageMaker can't find a feature "
                                                 f"group with name {name}")  # unverified wording
        return _from_row(row)

    def by_store_id(self, store_id: str) -> FeatureGroup | None:
        with self.db.read() as conn:
            row = conn.execute(sa.select(T).where(T.c.store_id == store_id)).first()
        return _from_row(row) if row is not None else None

    def save(self, group: FeatureGroup, expected: GroupStatus | None = None) -> None:
        """Persist `group`; with `expected`, only if its stored status still is that (else Conflict)."""
        where = sa.and_(T.c.store_id == group.store_id)
        if expected is not None:
            where = sa.and_(where, T.c.status == expected.value)
        with self.db.tx() as conn:
            result = conn.execute(T.update().where(where).values(**_row(group)))
        if result.rowcount != 1:
            raise Conflict(f"feature group {group.name} changed concurrently")

    def touch_ingest(self, store_id: str, at: float) -> None:
        with self.db.tx() as conn:
            conn.execute(T.update().where(T.c.store_id == store_id).values(last_ingest_at=at))

    def delete(self, group: FeatureGroup) -> None:
        with self.db.tx() as conn:
            conn.execute(T.delete().where(T.c.store_id == group.store_id))

    def list(self, scope: Scope | None = None, statuses: tuple[GroupStatus, ...] = ()) -> list[FeatureGroup]:
        q = sa.select(T).order_by(T.c.created_at)
        if scope is not None:
            q = q.where(_in_scope(scope))
        if statuses:
            q = q.where(T.c.status.in_([s.value for s in statuses]))
        with self.db.read() as conn:
            return [_from_row(r) for r in conn.execute(q).all()]

    def count(self) -> int:
        with self.db.read() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(T)).scalar_one())
