"""Scalable targets, scaling policies and scaling activities (Application Auto Scaling state)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from kiln.core.scope import Scope
from kiln.core.state.db import METADATA, Database, Migration, create_tables

_KEY = ("account_id", "region", "namespace", "resource_id", "dimension")


def _cols() -> list[sa.Column]:  # type: ignore[type-arg]
    return [sa.Column("account_id", sa.String(12), primary_key=True),
            sa.Column("region", sa.String(32), primary_key=True),
            sa.Column("namespace", sa.String(64), primary_key=True),
            sa.Column("resource_id", sa.String(1600), primary_key=True),
            sa.Column("dimension", sa.String(128), primary_key=True)]


targets = sa.Table(
    "autoscaling_targets", METADATA, *_cols(),
    sa.Column("min_capacity", sa.Integer, nullable=False),
    sa.Column("max_capacity", sa.Integer, nullable=False),
    sa.Column("role_arn", sa.String(1600), nullable=False),
    sa.Column("suspended", sa.JSON, nullable=False),
    sa.Column("arn", sa.String(1600), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("last_scale_out", sa.Float),
    sa.Column("last_scale_in", sa.Float),
)

policies = sa.Table(
    "autoscaling_policies", METADATA, *_cols(),
    sa.Column("name", sa.String(256), primary_key=True),
    sa.Column("policy_type", sa.String(32), nullable=False),
    sa.Column("config", sa.JSON, nullable=False),
    sa.Column("arn", sa.String(1600), nullable=False),
    sa.Column("alarms", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

activities = sa.Table(
    "autoscaling_activities", METADATA,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("account_id", sa.String(12), nullable=False),
    sa.Column("region", sa.String(32), nullable=False),
    sa.Column("namespace", sa.String(64), nullable=False),
    sa.Column("resource_id", sa.String(1600), nullable=False),
    sa.Column("dimension", sa.String(128), nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("cause", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("message", sa.Text),
    sa.Column("desired", sa.Integer),
    sa.Column("start", sa.Float, nullable=False),
    sa.Column("end", sa.Float),
    sa.Index("ix_autoscaling_activities_target", "account_id", "region", "namespace", "resource_id", "start"),
)

MIGRATIONS = [Migration("autoscaling-0001-targets-policies-activities", create_tables(targets, policies, activities))]


@dataclass(frozen=True, slots=True)
class TargetKey:
    scope: Scope
    namespace: str
    resource_id: str
    dimension: str

    def where(self, table: sa.Table) -> Any:
        return sa.and_(table.c.account_id == self.scope.account_id, table.c.region == self.scope.region,
                       table.c.namespace == self.namespace, table.c.resource_id == self.resource_id,
                       table.c.dimension == self.dimension)

    def values(self) -> dict[str, str]:
        return {"account_id": self.scope.account_id, "region": self.scope.region, "namespace": self.namespace,
                "resource_id": self.resource_id, "dimension": self.dimension}


@dataclass(slots=True)
class Target:
    key: TargetKey
    min_capacity: int
    max_capacity: int
    role_arn: str
    suspended: dict[str, bool]
    arn: str
    created_at: float
    last_scale_out: float | None = None
    last_scale_in: float | None = None


@dataclass(slots=True)
class Policy:
    key: TargetKey
    name: str
    policy_type: str
    config: dict[str, Any]
    arn: str
    alarms: list[dict[str, str]]
    created_at: float


@dataclass(slots=True)
class Activity:
    key: TargetKey
    description: str
    cause: str
    status: str
    start: float
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    message: str | None = None
    desired: int | None = None
    end: float | None = None


def _key(m: Any) -> TargetKey:
    return TargetKey(Scope(m["account_id"], m["region"]), m["namespace"], m["resource_id"], m["dimension"])


def _in(table: sa.Table, scope: Scope, namespace: str) -> Any:
    return sa.and_(table.c.account_id == scope.account_id, table.c.region == scope.region,
                   table.c.namespace == namespace)


class AutoscalingStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def put_target(self, t: Target) -> None:
        row = {**t.key.values(), "min_capacity": t.min_capacity, "max_capacity": t.max_capacity,
               "role_arn": t.role_arn, "suspended": t.suspended, "arn": t.arn, "created_at": t.created_at,
               "last_scale_out": t.last_scale_out, "last_scale_in": t.last_scale_in}
        with self.db.tx() as conn:
            if conn.execute(sa.select(targets.c.arn).where(t.key.where(targets))).first():
                conn.execute(targets.update().where(t.key.where(targets)).values(**row))
            else:
                conn.execute(targets.insert().values(**row))

    def get_target(self, key: TargetKey) -> Target | None:
        with self.db.read() as conn:
            row = conn.execute(sa.select(targets).where(key.where(targets))).first()
        return self._target(row) if row else None

    @staticmethod
    def _target(row: Any) -> Target:
        m = row._mapping
        return Target(_key(m), m["min_capacity"], m["max_capacity"], m["role_arn"], dict(m["suspended"] or {}),
                      m["arn"], m["created_at"], m["last_scale_out"], m["last_scale_in"])

    def targets(self, scope: Scope | None = None, namespace: str | None = None) -> list[Target]:
        q = sa.select(targets).order_by(targets.c.created_at)
        if scope is not None and namespace is not None:
            q = q.where(_in(targets, scope, namespace))
        with self.db.read() as conn:
            return [self._target(r) for r in conn.execute(q).all()]

    def delete_target(self, key: TargetKey) -> bool:
        with self.db.tx() as conn:
            conn.execute(policies.delete().where(key.where(policies)))
            return bool(conn.execute(targets.delete().where(key.where(targets))).rowcount)

    def put_policy(self, p: Policy) -> Policy:
        """Insert or update (by target and name); an update keeps the ARN and creation time."""
        where = sa.and_(p.key.where(policies), policies.c.name == p.name)
        with self.db.tx() as conn:
            old = conn.execute(sa.select(policies).where(where)).first()
            if old is not None:
                p.arn, p.alarms, p.created_at = old.arn, old.alarms, old.created_at
                conn.execute(policies.update().where(where).values(policy_type=p.policy_type, config=p.config))
            else:
                conn.execute(policies.insert().values(**p.key.values(), name=p.name, policy_type=p.policy_type,
                                                      config=p.config, arn=p.arn, alarms=p.alarms,
                                                      created_at=p.created_at))
        return p

    def policies(self, scope: Scope | None = None, namespace: str | None = None,
                 key: TargetKey | None = None) -> list[Policy]:
        q = sa.select(policies).order_by(policies.c.created_at)
        if key is not None:
            q = q.where(key.where(policies))
        elif scope is not None and namespace is not None:
            q = q.where(_in(policies, scope, namespace))
        with self.db.read() as conn:
            rows = conn.execute(q).all()
        return [Policy(_key(r._mapping), r.name, r.policy_type, r.config, r.arn, list(r.alarms), r.created_at)
                for r in rows]

    def delete_policy(self, key: TargetKey, name: str) -> bool:
        with self.db.tx() as conn:
            return bool(conn.execute(policies.delete().where(key.where(policies), policies.c.name == name)).rowcount)

    def add_activity(self, a: Activity) -> None:
        with self.db.tx() as conn:
            conn.execute(activities.insert().values(
                id=a.id, **a.key.values(), description=a.description, cause=a.cause, status=a.status,
                message=a.message, desired=a.desired, start=a.start, end=a.end))

    def finish_activity(self, activity_id: str, status: str, message: str | None, end: float) -> None:
        with self.db.tx() as conn:
            conn.execute(activities.update().where(activities.c.id == activity_id)
                         .values(status=status, message=message, end=end))

    def activities(self, scope: Scope, namespace: str, resource_id: str | None = None,
                   dimension: str | None = None, status: str | None = None) -> list[Activity]:
        q = sa.select(activities).where(_in(activities, scope, namespace)).order_by(activities.c.start.desc())
        if resource_id is not None:
            q = q.where(activities.c.resource_id == resource_id)
        if dimension is not None:
            q = q.where(activities.c.dimension == dimension)
        if status is not None:
            q = q.where(activities.c.status == status)
        with self.db.read() as conn:
            rows = conn.execute(q).all()
        return [Activity(_key(r._mapping), r.description, r.cause, r.status, r.start, r.id, r.message, r.desired,
                         r.end) for r in rows]
