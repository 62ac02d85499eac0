"""Async inference without a server: the durable queue's moves, crash recovery (answered vs
requeued, notifications sent once), RequestTTLSeconds expiry, step scaling and alarm evaluation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kiln.core.scope import Scope
from kiln.core.state.db import Database
from kiln.services import sns as sns_pkg
from kiln.services.autoscaling.alarms import Alarm, evaluate
from kiln.services.autoscaling.policy import step_capacity
from kiln.services.hosting.asyncq import notify
from kiln.services.hosting.asyncq.config import AsyncSettings
from kiln.services.hosting.asyncq.store import MIGRATIONS, AsyncQueue, AsyncRequest, RequestStatus
from kiln.services.hosting.asyncq.worker import AsyncDispatcher
from kiln.services.hosting.router import Router
from kiln.services.s3 import tables as s3_tables
from kiln.services.s3.store import ObjectStore
from kiln.services.sns.service import SnsService
from kiln.services.sns.store import SnsStore

SCOPE = Scope("123456789012", "us-east-1")
S = RequestStatus


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def parts(tmp_path: Path) -> Any:
    db = Database(f"sqlite:///{tmp_path / 'kiln.db'}")
    db.migrate([*s3_tables.MIGRATIONS, *MIGRATIONS, *sns_pkg.MIGRATIONS])
    objects = ObjectStore(db, tmp_path / "objects")
    objects.create_bucket("bkt", SCOPE.account_id, SCOPE.region)
    clock = Clock()
    sns = SnsService(SnsStore(db), None, clock)
    topic = sns.create_topic(SCOPE, "done").arn
    queue = AsyncQueue(db)
    dispatcher = AsyncDispatcher(queue, objects, None, Router(), None, sns, clock=clock)
    yield queue, objects, sns, topic, dispatcher, clock
    objects.close()
    db.dispose()


def _request(i: int, clock: Clock, topic: str, ttl: int = 60) -> AsyncRequest:
    settings = AsyncSettings("s3://bkt/out", "s3://bkt/failed", topic, topic, (), 1)
    return AsyncRequest(f"r{i}", SCOPE, "ep", f"id-{i}", "s3://bkt/in.json", None, "application/json", None, None,
                        f"s3://bkt/out/id-{i}.out", f"s3://bkt/failed/id-{i}-error.out", settings.to_json(),
                        clock.now + i, ttl, 900)


def test_claims_are_exclusive_and_ordered(parts: Any) -> None:
    queue, _, _, topic, _, clock = parts
    for i in range(5):
        queue.enqueue(_request(i, clock, topic))
    first = queue.claim(("123456789012", "us-east-1", "ep"), 2, clock.now)
    assert [r.id for r in first] == ["r0", "r1"] and all(r.status == S.IN_PROGRESS and r.attempts == 1 for r in first)
    second = queue.claim(("123456789012", "us-east-1", "ep"), 10, clock.now)
    assert [r.id for r in second] == ["r2", "r3", "r4"]
    assert queue.claim(("123456789012", "us-east-1", "ep"), 10, clock.now) == []
    assert queue.release("r0") and not queue.release("r0")
    assert queue.finish("r1", S.COMPLETED, clock.now) and not queue.finish("r1", S.FAILED, clock.now)
    backlog = queue.backlog()[("123456789012", "us-east-1", "ep")]
    assert (backlog.pending, backlog.in_progress, backlog.oldest) == (1, 3, clock.now)


def test_recover_finishes_answered_claims_and_requeues_the_rest(parts: Any) -> None:
    queue, objects, sns, topic, dispatcher, clock = parts
    for i in range(3):
        queue.enqueue(_request(i, clock, topic))
    queue.claim(("123456789012", "us-east-1", "ep"), 3, clock.now - 5)
    objects.put_bytes("bkt", "out/id-0.out", b'{"ok": 1}', "application/json")  # answered, not recorded: crash
    objects.put_bytes("bkt", "failed/id-1-error.out", b"boom", "text/plain")
    dispatcher.recover()
    assert [queue.get(f"r{i}").status for i in range(3)] == [S.COMPLETED, S.FAILED, S.PENDING]  # type: ignore[union-attr]
    assert queue.get("r0").output_content_type == "application/json"  # type: ignore[union-attr]
    notes = [json.loads(m.message) for m in sns.messages(topic)]
    assert sorted((n["inferenceId"], n["invocationStatus"]) for n in notes) == [("id-0", "Completed"),
                                                                                  ("id-1", "Failed")]
    for r in (queue.get("r0"), queue.get("r1")):  # a second crash before `notified` was saved: no duplicate
        notify.publish(sns, r, None)
    assert len(sns.messages(topic)) == 2
    dispatcher.recover()
    assert len(sns.messages(topic)) == 2


def test_requests_expire_after_their_ttl(parts: Any) -> None:
    queue, objects, sns, topic, dispatcher, clock = parts
    queue.enqueue(_request(0, clock, topic, ttl=60))
    queue.enqueue(_request(1, clock, topic, ttl=3600))
    clock.now += 120
    dispatcher._expire()
    expired, kept = queue.get("r0"), queue.get("r1")
    assert expired is not None and expired.status == S.FAILED and "RequestTTLSeconds (60 s)" in str(
        expired.failure_reason)
    assert kept is not None and kept.status == S.PENDING
    failure = json.loads(objects.read_bytes("bkt", "failed/id-0-error.out"))
    assert failure["ErrorCode"] == "ClientError" and "expired" in failure["Message"]
    [note] = [json.loads(m.message) for m in sns.messages(topic)]
    assert note["invocationStatus"] == "Failed" and note["inferenceId"] == "id-0"


@pytest.mark.parametrize(("current", "config", "value", "threshold", "want"), [
    (0, {"StepAdjustments": [{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1}]}, 1.0, 1.0, 1),
    (0, {"StepAdjustments": [{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1}]}, 0.5, 1.0, None),
    (2, {"AdjustmentType": "ExactCapacity", "StepAdjustments": [{"MetricIntervalUpperBound": 0,
                                                                 "ScalingAdjustment": 0}]}, 0.0, 1.0, 0),
    (4, {"AdjustmentType": "PercentChangeInCapacity", "StepAdjustments": [
        {"MetricIntervalLowerBound": 0, "MetricIntervalUpperBound": 10, "ScalingAdjustment": 50},
        {"MetricIntervalLowerBound": 10, "ScalingAdjustment": 100}]}, 25.0, 5.0, 8),
    (1, {"AdjustmentType": "PercentChangeInCapacity", "MinAdjustmentMagnitude": 2,
         "StepAdjustments": [{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 10}]}, 3.0, 1.0, 3),
])
def test_step_capacity(current: int, config: dict[str, Any], value: float, threshold: float,
                       want: int | None) -> None:
    assert step_capacity(current, config, value, threshold) == want


class FakeMetrics:
    def __init__(self, points: dict[float, float]) -> None:
        self.points = points  # period start -> Average

    def statistics(self, scope: Scope, ns: str, name: str, dims: dict[str, str], start: float, end: float,
                   period: int, stats: list[str]) -> list[dict[str, float]]:
        return [{"Timestamp": t, "Average": v} for t, v in sorted(self.points.items()) if start <= t < end]


def test_alarm_evaluation() -> None:
    cfg = {"MetricName": "HasBacklogWithoutCapacity", "Namespace": "AWS/SageMaker", "Statistic": "Average",
           "Period": 60, "EvaluationPeriods": 2, "DatapointsToAlarm": 2, "Threshold": 1,
           "ComparisonOperator": "GreaterThanOrEqualToThreshold", "TreatMissingData": "missing"}
    alarm = Alarm(SCOPE, "a", cfg)
    assert evaluate(alarm, FakeMetrics({}), 600.0)[0] == "INSUFFICIENT_DATA"
    assert evaluate(alarm, FakeMetrics({480.0: 1.0, 540.0: 1.0}), 600.0)[0] == "ALARM" and alarm.value == 1.0
    assert evaluate(alarm, FakeMetrics({480.0: 0.0, 540.0: 1.0}), 600.0)[0] == "OK"
    assert evaluate(alarm, FakeMetrics({540.0: 1.0}), 600.0)[0] == "OK"  # one datapoint of the two needed
    breaching = Alarm(SCOPE, "b", {**cfg, "TreatMissingData": "breaching"})
    assert evaluate(breaching, FakeMetrics({540.0: 1.0}), 600.0)[0] == "ALARM"


def test_recovered_notification_includes_the_stored_answer(parts: Any) -> None:
    queue, objects, sns, topic, dispatcher, clock = parts
    r = _request(0, clock, topic)
    r.settings = AsyncSettings("s3://bkt/out", "s3://bkt/failed", topic, topic, ("SUCCESS_NOTIFICATION_TOPIC",),
                               1).to_json()
    queue.enqueue(r)
    queue.claim(("123456789012", "us-east-1", "ep"), 1, clock.now - 5)
    objects.put_bytes("bkt", "out/id-0.out", b'{"ok": 1}', "application/json")
    dispatcher.recover()
    [note] = [json.loads(m.message) for m in sns.messages(topic)]
    import base64

    assert base64.b64decode(note["responseBody"]["content"]) == b'{"ok": 1}'
    assert note["responseParameters"] == {"contentType": "application/json", "outputLocation": r.output_location}
