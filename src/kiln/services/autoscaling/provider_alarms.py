"""CloudWatch PutMetricAlarm / DescribeAlarms / DeleteAlarms (the alarms that drive step scaling
policies). Translation only; state and evaluation live in `alarms.py`."""

from __future__ import annotations

import time
from typing import Any

from kiln.aws import errors
from kiln.aws.context import RequestContext
from kiln.aws.dispatch import Provider, operation
from kiln.aws.pagination import page
from kiln.core import errors as domain
from kiln.services.autoscaling.alarms import Alarm, AlarmStore, check

_FIELDS = ("AlarmDescription", "OKActions", "AlarmActions", "InsufficientDataActions", "MetricName", "Namespace",
           "Statistic", "Dimensions", "Period", "Unit", "EvaluationPeriods", "DatapointsToAlarm", "Threshold",
           "ComparisonOperator", "TreatMissingData")


def _describe(a: Alarm) -> dict[str, Any]:
    c = a.config
    out: dict[str, Any] = {"AlarmName": a.name, "AlarmArn": a.arn, "ActionsEnabled": c.get("ActionsEnabled", True),
                           "OKActions": [], "AlarmActions": [], "InsufficientDataActions": [], "Dimensions": [],
                           "StateValue": a.state, "StateReason": a.reason, "StateUpdatedTimestamp": a.state_updated,
                           "AlarmConfigurationUpdatedTimestamp": a.configured_at}
    out.update({k: c[k] for k in _FIELDS if k in c})
    out.setdefault("TreatMissingData", "missing")
    return out


class AlarmsProvider(Provider):
    service = "cloudwatch"

    def __init__(self, store: AlarmStore, notify: Any = None) -> None:
        self.store = store
        self.notify = notify or (lambda: None)

    def domain_errors(self, err: domain.DomainError) -> errors.AwsError:
        return errors.error("InvalidParameterValue")(err.message)

    @operation("PutMetricAlarm")
    def put_metric_alarm(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        config = {k: v for k, v in request.items() if k not in ("AlarmName", "Tags")}
        check(config)
        now = time.time()
        self.store.put(Alarm(ctx.scope, request["AlarmName"], config, state_updated=now, configured_at=now))
        self.notify()
        return {}

    @operation("DescribeAlarms")
    def describe_alarms(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        items = self.store.list(ctx.scope)
        if request.get("AlarmNames"):
            items = [a for a in items if a.name in request["AlarmNames"]]
        if request.get("AlarmNamePrefix"):
            items = [a for a in items if a.name.startswith(request["AlarmNamePrefix"])]
        if request.get("StateValue"):
            items = [a for a in items if a.state == request["StateValue"]]
        if request.get("ActionPrefix"):
            items = [a for a in items if any(x.startswith(request["ActionPrefix"])
                                             for x in a.config.get("AlarmActions") or [])]
        if request.get("AlarmTypes") and "MetricAlarm" not in request["AlarmTypes"]:
            items = []
        chunk, token = page(items, request.get("NextToken"), request.get("MaxRecords"), default=50)
        return {"MetricAlarms": [_describe(a) for a in chunk], "CompositeAlarms": [], "NextToken": token}

    @operation("DeleteAlarms")
    def delete_alarms(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        self.store.delete(ctx.scope, list(request["AlarmNames"]))
        return {}
