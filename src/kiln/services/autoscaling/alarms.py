"""CloudWatch metric alarms, as far as scaling needs them: PutMetricAlarm / DescribeAlarms /
DeleteAlarms state, and their evaluation against the MetricStore. An alarm whose `AlarmActions` name a
step scaling policy's ARN drives that policy (`loop.py`), as the documented async-inference setup
does (a step policy on `HasBacklogWithoutCapacity` scales an empty variant from 0 to 1).

Evaluation (CloudWatch's, simplified): the last `EvaluationPeriods` whole periods are read; a period
breaches when its statistic compares true with the threshold; missing periods follow
`TreatMissingData` (missing/ignore: not counted, breaching, notBreaching); the alarm is `ALARM` when
at least `DatapointsToAlarm` periods breach, `INSUFFICIENT_DATA` when no period has data, else `OK`.
Metric-math alarms are refused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from kiln.core import arns
from kiln.core.errors import InvalidInput
from kiln.core.scope import Scope
from kiln.core.state.db import METADATA, Database, Migration, create_tables

alarms = sa.Table(
    "autoscaling_alarms", METADATA,
    sa.Column("account_id", sa.String(12), primary_key=True),
    sa.Column("region", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("config", sa.JSON, nullable=False),  # the PutMetricAlarm request, less Tags
    sa.Column("state", sa.String(24), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("state_updated", sa.Float, nullable=False),
    sa.Column("configured_at", sa.Float, nullable=False),
)

MIGRATIONS = [Migration("autoscaling-0002-metric-alarms", create_tables(alarms))]
COMPARE = {"GreaterThanOrEqualToThreshold": lambda v, t: v >= t, "GreaterThanThreshold": lambda v, t: v > t,
           "LessThanThreshold": lambda v, t: v < t, "LessThanOrEqualToThreshold": lambda v, t: v <= t}


@dataclass(slots=True)
class Alarm:
    scope: Scope
    name: str
    config: dict[str, Any]
    state: str = "INSUFFICIENT_DATA"
    reason: str = "Unchecked: Initial alarm creation"
    state_updated: float = 0.0
    configured_at: float = 0.0
    value: float | None = None  # the newest period's statistic, set by evaluate()

    @property
    def arn(self) -> str:
        return arns.arn(self.scope, "cloudwatch", f"alarm:{self.name}")


def check(config: dict[str, Any]) -> None:
    """Refuse what Kiln cannot evaluate, naming the field."""
    if config.get("Metrics"):
        raise InvalidInput("Kiln does not evaluate metric math alarms (Metrics); give MetricName, Namespace and "
                           "Statistic.")
    for field in ("MetricName", "Namespace", "Period", "ComparisonOperator"):
        if config.get(field) is None:
            raise InvalidInput(f"{field} is required for a metric alarm.")
    if not config.get("Statistic"):
        raise InvalidInput("Statistic is required (Kiln does not evaluate ExtendedStatistic alarms).")
    if config["ComparisonOperator"] not in COMPARE:
        raise InvalidInput(f"ComparisonOperator {config['ComparisonOperator']} is not supported for metric alarms.")
    if config.get("Threshold") is None:
        raise InvalidInput("Threshold is required for a metric alarm.")
    period = int(config["Period"])
    if period not in (10, 20, 30) and period % 60:
        raise InvalidInput("The parameter Period must be 10, 20, 30 or a multiple of 60.")
    if int(config.get("DatapointsToAlarm") or config["EvaluationPeriods"]) > int(config["EvaluationPeriods"]):
        raise InvalidInput("DatapointsToAlarm must be less than or equal to EvaluationPeriods.")


def evaluate(alarm: Alarm, metrics: Any, now: float) -> tuple[str, str]:
    """(state, reason) of the alarm at `now`; sets `alarm.value` to the newest period's statistic."""
    c = alarm.config
    period, n = int(c["Period"]), int(c["EvaluationPeriods"])
    needed = int(c.get("DatapointsToAlarm") or n)
    end = math.floor(now / period) * period
    start = end - n * period
    dims = {d["Name"]: d["Value"] for d in c.get("Dimensions") or []}
    stat = c["Statistic"]
    points = metrics.statistics(alarm.scope, c["Namespace"], c["MetricName"], dims, start, end, period, [stat])
    values: list[float | None] = [None] * n
    for p in points:
        k = round((float(p["Timestamp"]) - start) / period)
        if 0 <= k < n and p.get(stat) is not None:
            values[k] = float(p[stat])
    alarm.value = next((v for v in reversed(values) if v is not None), None)
    treat = c.get("TreatMissingData") or "missing"
    compare = COMPARE[c["ComparisonOperator"]]
    breaching = sum(1 for v in values if v is not None and compare(v, float(c["Threshold"])))
    if treat == "breaching":
        breaching += values.count(None)
    if all(v is None for v in values) and treat in ("missing", "ignore"):
        return "INSUFFICIENT_DATA", f"Insufficient Data: {n} datapoints were unknown."
    shown = ", ".join("missing" if v is None else f"{v:g}" for v in values)
    if breaching >= needed:
        return "ALARM", (f"Threshold Crossed: {breaching} out of the last {n} datapoints [{shown}] were "
                         f"{c['ComparisonOperator']} the threshold ({float(c['Threshold']):g}).")
    return "OK", f"Threshold Crossed: {breaching} out of the last {n} datapoints [{shown}] breached the threshold."


def _alarm(r: Any) -> Alarm:
    return Alarm(Scope(r.account_id, r.region), r.name, dict(r.config), r.state, r.reason, r.state_updated,
                 r.configured_at)


def _in(scope: Scope) -> Any:
    return sa.and_(alarms.c.account_id == scope.account_id, alarms.c.region == scope.region)


class AlarmStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def put(self, a: Alarm) -> None:
        key = (_in(a.scope), alarms.c.name == a.name)
        with self.db.tx() as conn:
            if conn.execute(sa.select(alarms.c.name).where(*key)).first():
                conn.execute(alarms.update().where(*key).values(config=a.config, configured_at=a.configured_at))
            else:
                conn.execute(alarms.insert().values(account_id=a.scope.account_id, region=a.scope.region, name=a.name,
                                                    config=a.config, state=a.state, reason=a.reason,
                                                    state_updated=a.state_updated, configured_at=a.configured_at))

    def set_state(self, a: Alarm, state: str, reason: str, now: float) -> None:
        with self.db.tx() as conn:
            conn.execute(alarms.update().where(_in(a.scope), alarms.c.name == a.name)
                         .values(state=state, reason=reason, state_updated=now))
        a.state, a.reason, a.state_updated = state, reason, now

    def list(self, scope: Scope | None = None) -> list[Alarm]:
        q = sa.select(alarms).order_by(alarms.c.name)
        if scope is not None:
            q = q.where(_in(scope))
        with self.db.read() as conn:
            return [_alarm(r) for r in conn.execute(q).all()]

    def delete(self, scope: Scope, names: list[str]) -> None:
        with self.db.tx() as conn:
            conn.execute(alarms.delete().where(_in(scope), alarms.c.name.in_(names)))
