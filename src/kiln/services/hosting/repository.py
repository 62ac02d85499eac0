"""Rows <-> hosting domain objects. Endpoints are written with compare-and-set on `version`."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from kiln.core.errors import Conflict
from kiln.core.scope import Scope
from kiln.core.state.db import Database
from kiln.services.hosting import tables as t
from kiln.services.hosting.models import Deployment, Endpoint, EndpointConfig, EndpointStatus, Model


def _key(table: sa.Table, scope: Scope, name: str) -> Any:
    return sa.and_(table.c.account_id == scope.account_id, table.c.region == scope.region, table.c.name == name)


def _in_scope(table: sa.Table, scope: Scope | None) -> Any:
    if scope is None:
        return sa.true()
    return sa.and_(table.c.account_id == scope.account_id, table.c.region == scope.region)


def _scope(m: Any) -> Scope:
    return Scope(m["account_id"], m["region"])


def _endpoint_row(e: Endpoint) -> dict[str, Any]:
    return {"account_id": e.scope.account_id, "region": e.scope.region, "name": e.name, "status": e.status.value,
            "current": e.current.to_json(), "pending": e.pending.to_json() if e.pending else None,
            "generation": e.generation, "failure_reason": e.failure_reason,
            "deployment_config": e.deployment_config, "created_at": e.created_at, "modified_at": e.modified_at,
            "version": e.version}


def _endpoint(row: Any) -> Endpoint:
    m = row._mapping
    return Endpoint(scope=_scope(m), name=m["name"], status=EndpointStatus(m["status"]),
                    current=Deployment.from_json(m["current"]), created_at=m["created_at"],
                    modified_at=m["modified_at"], generation=m["generation"],
                    pending=Deployment.from_json(m["pending"]) if m["pending"] else None,
                    failure_reason=m["failure_reason"], deployment_config=m["deployment_config"],
                    version=m["version"])


class HostingRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- models and configs: immutable rows --------------------------------------------------------
    def _insert(self, table: sa.Table, scope: Scope, name: str, spec: dict[str, Any], created_at: float) -> bool:
        with self.db.tx() as conn:
            if conn.execute(sa.select(table.c.name).where(_key(table, scope, name))).first():
                return False
            conn.execute(table.insert().values(account_id=scope.account_id, region=scope.region, name=name,
                                               spec=spec, created_at=created_at))
        return True

    def _get(self, table: sa.Table, scope: Scope, name: str) -> Any:
        with self.db.read() as conn:
            return conn.execute(sa.select(table).where(_key(table, scope, name))).first()

    def _list(self, table: sa.Table, scope: Scope) -> list[Any]:
        with self.db.read() as conn:
            return list(conn.execute(sa.select(table).where(_in_scope(table, scope))
                                     .order_by(table.c.created_at)).all())

    def _delete(self, table: sa.Table, scope: Scope, name: str) -> bool:
        with self.db.tx() as conn:
            return bool(conn.execute(table.delete().where(_key(table, scope, name))).rowcount)

    def insert_model(self, model: Model) -> bool:
        return self._insert(t.models, model.scope, model.name, model.spec, model.created_at)

    def get_model(self, scope: Scope, name: str) -> Model | None:
        row = self._get(t.models, scope, name)
        return Model(scope, row.name, row.spec, row.created_at) if row else None

    def list_models(self, scope: Scope) -> list[Model]:
        return [Model(scope, r.name, r.spec, r.created_at) for r in self._list(t.models, scope)]

    def delete_model(self, scope: Scope, name: str) -> bool:
        return self._delete(t.models, scope, name)

    def insert_config(self, config: EndpointConfig) -> bool:
        return self._insert(t.endpoint_configs, config.scope, config.name, config.spec, config.created_at)

    def get_config(self, scope: Scope, name: str) -> EndpointConfig | None:
        row = self._get(t.endpoint_configs, scope, name)
        return EndpointConfig(scope, row.name, row.spec, row.created_at) if row else None

    def list_configs(self, scope: Scope) -> list[EndpointConfig]:
        return [EndpointConfig(scope, r.name, r.spec, r.created_at) for r in self._list(t.endpoint_configs, scope)]

    def delete_config(self, scope: Scope, name: str) -> bool:
        return self._delete(t.endpoint_configs, scope, name)

    # -- endpoints ------------------------------------------------------------------------------------
    def insert_endpoint(self, e: Endpoint) -> bool:
        with self.db.tx() as conn:
            if conn.execute(sa.select(t.endpoints.c.name).where(_key(t.endpoints, e.scope, e.name))).first():
                return False
            conn.execute(t.endpoints.insert().values(**_endpoint_row(e)))
        return True

    def get_endpoint(self, scope: Scope, name: str) -> Endpoint | None:
        row = self._get(t.endpoints, scope, name)
        return _endpoint(row) if row else None

    def list_endpoints(self, scope: Scope | None = None) -> list[Endpoint]:
        with self.db.read() as conn:
            rows = conn.execute(sa.select(t.endpoints).where(_in_scope(t.endpoints, scope))
                                .order_by(t.endpoints.c.created_at)).all()
        return [_endpoint(r) for r in rows]

    def save_endpoint(self, e: Endpoint) -> Endpoint:
        """Persist `e` if nobody wrote it since it was read (its `version`); returns it re-versioned.

        Raises:
            Conflict: another writer won; reload and decide again.
        """
        row = _endpoint_row(e)
        row["version"] = e.version + 1
        with self.db.tx() as conn:
            done = conn.execute(t.endpoints.update().where(_key(t.endpoints, e.scope, e.name),
                                                           t.endpoints.c.version == e.version).values(**row))
        if done.rowcount != 1:
            raise Conflict(f"endpoint {e.name} changed concurrently")
        e.version += 1
        return e

    def delete_endpoint(self, scope: Scope, name: str) -> bool:
        return self._delete(t.endpoints, scope, name)

    def count_endpoints(self) -> int:
        with self.db.read() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(t.endpoints)).scalar_one())
