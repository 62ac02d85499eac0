"""CloudWatch Logs through boto3 against a live Kiln, including the SageMaker SDK's own log tail."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from kiln.core.scope import Scope

GROUP_MISSING = "The specified log group does not exist."
STREAM_MISSING = "The specified log stream does not exist."


@pytest.fixture
def logs(aws_client: Callable[..., Any]) -> Any:
    return aws_client("logs")


@pytest.fixture
def group(logs: Any, unique_name: str) -> Iterator[str]:
    name = f"/kiln/test/{unique_name}"
    logs.create_log_group(logGroupName=name)
    yield name
    try:
        logs.delete_log_group(logGroupName=name)
    except ClientError:
        pass


def now_ms() -> int:
    return int(time.time() * 1000)


def put(logs: Any, group: str, stream: str, messages: list[str], start: int | None = None) -> int:
    base = start if start is not None else now_ms()
    logs.put_log_events(logGroupName=group, logStreamName=stream,
                        logEvents=[{"timestamp": base + i, "message": m} for i, m in enumerate(messages)])
    return base


def error_of(call: Callable[..., Any], **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    err = info.value.response["Error"]
    return err["Code"], err["Message"]


# -- groups and streams -----------------------------------------------------------------------------

def test_create_describe_delete_group(logs: Any, unique_name: str) -> None:
    name = f"/kiln/test/{unique_name}"
    logs.create_log_group(logGroupName=name)
    found = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
    assert [g["logGroupName"] for g in found] == [name]
    assert found[0]["arn"] == f"arn:aws:logs:us-east-1:123456789012:log-group:{name}:*"
    assert found[0]["logGroupArn"] == f"arn:aws:logs:us-east-1:123456789012:log-group:{name}"
    assert abs(found[0]["creationTime"] - now_ms()) < 60_000
    assert found[0]["storedBytes"] == 0
    logs.delete_log_group(logGroupName=name)
    assert logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"] == []


def test_create_duplicate(logs: Any, group: str) -> None:
    code, message = error_of(logs.create_log_group, logGroupName=group)
    assert (code, message) == ("ResourceAlreadyExistsException", "The specified log group already exists")
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    code, _ = error_of(logs.create_log_stream, logGroupName=group, logStreamName="s")
    assert code == "ResourceAlreadyExistsException"


def test_missing_group_errors(logs: Any, unique_name: str) -> None:
    missing = f"/kiln/missing/{unique_name}"
    calls: list[tuple[Callable[..., Any], dict[str, Any]]] = [
        (logs.delete_log_group, {"logGroupName": missing}),
        (logs.create_log_stream, {"logGroupName": missing, "logStreamName": "s"}),
        (logs.describe_log_streams, {"logGroupName": missing}),
        (logs.get_log_events, {"logGroupName": missing, "logStreamName": "s"}),
        (logs.put_log_events, {"logGroupName": missing, "logStreamName": "s",
                               "logEvents": [{"timestamp": now_ms(), "message": "x"}]}),
        (logs.filter_log_events, {"logGroupName": missing}),
    ]
    for call, kwargs in calls:
        assert error_of(call, **kwargs) == ("ResourceNotFoundException", GROUP_MISSING), call


def test_missing_stream_errors(logs: Any, group: str) -> None:
    assert error_of(logs.get_log_events, logGroupName=group, logStreamName="nope") == (
        "ResourceNotFoundException", STREAM_MISSING)
    assert error_of(logs.put_log_events, logGroupName=group, logStreamName="nope",
                    logEvents=[{"timestamp": now_ms(), "message": "x"}])[0] == "ResourceNotFoundException"
    assert error_of(logs.delete_log_stream, logGroupName=group, logStreamName="nope")[0] == (
        "ResourceNotFoundException")


def test_delete_stream_and_group_drop_events(logs: Any, group: str) -> None:
    logs.create_log_stream(logGroupName=group, logStreamName="a")
    put(logs, group, "a", ["one", "two"])
    logs.delete_log_stream(logGroupName=group, logStreamName="a")
    assert logs.describe_log_streams(logGroupName=group)["logStreams"] == []
    logs.create_log_stream(logGroupName=group, logStreamName="a")
    events = logs.get_log_events(logGroupName=group, logStreamName="a", startFromHead=True)["events"]
    assert events == []


def test_describe_log_groups_pages(logs: Any, unique_name: str) -> None:
    names = [f"/kiln/pages/{unique_name}/{i:02d}" for i in range(7)]
    for name in names:
        logs.create_log_group(logGroupName=name)
    try:
        first = logs.describe_log_groups(logGroupNamePrefix=f"/kiln/pages/{unique_name}/", limit=5)
        assert "nextToken" in first
        pages = logs.get_paginator("describe_log_groups").paginate(
            logGroupNamePrefix=f"/kiln/pages/{unique_name}/", PaginationConfig={"PageSize": 3})
        assert [g["logGroupName"] for page in pages for g in page["logGroups"]] == names
        exact = logs.describe_log_groups(logGroupNamePrefix=f"/kiln/pages/{unique_name}/", limit=7)
        assert "nextToken" not in exact
        pattern = logs.describe_log_groups(logGroupNamePattern=f"{unique_name.upper()}/03")["logGroups"]
        assert [g["logGroupName"] for g in pattern] == [names[3]]
    finally:
        for name in names:
            logs.delete_log_group(logGroupName=name)


def test_describe_log_streams_order_prefix_and_pages(logs: Any, group: str) -> None:
    for name in ["job-b/algo-1", "job-a/algo-2", "job-a/algo-1", "other/x"]:
        logs.create_log_stream(logGroupName=group, logStreamName=name)
    put(logs, group, "job-a/algo-2", ["late"], start=now_ms() + 1000)
    put(logs, group, "job-b/algo-1", ["early"], start=now_ms() - 5000)

    listed = logs.describe_log_streams(logGroupName=group)
    assert [s["logStreamName"] for s in listed["logStreams"]] == [
        "job-a/algo-1", "job-a/algo-2", "job-b/algo-1", "other/x"]
    assert "nextToken" not in listed

    prefixed = logs.describe_log_streams(logGroupName=group, logStreamNamePrefix="job-a/",
                                         orderBy="LogStreamName", limit=2)
    assert [s["logStreamName"] for s in prefixed["logStreams"]] == ["job-a/algo-1", "job-a/algo-2"]
    assert "nextToken" not in prefixed  # exactly `limit` streams: no token (the SDK would loop)

    recent = logs.describe_log_streams(logGroupName=group, orderBy="LastEventTime", descending=True, limit=2)
    assert [s["logStreamName"] for s in recent["logStreams"]] == ["job-a/algo-2", "job-b/algo-1"]
    assert "nextToken" in recent
    rest = logs.describe_log_streams(logGroupName=group, orderBy="LastEventTime", descending=True,
                                     nextToken=recent["nextToken"])
    assert [s["logStreamName"] for s in rest["logStreams"]] == ["other/x", "job-a/algo-1"]

    stream = recent["logStreams"][0]
    assert stream["arn"].endswith(f"log-group:{group}:log-stream:job-a/algo-2")
    assert stream["firstEventTimestamp"] == stream["lastEventTimestamp"]
    assert stream["storedBytes"] == 4

    pages = logs.get_paginator("describe_log_streams").paginate(
        logGroupName=group, PaginationConfig={"PageSize": 1})
    assert [s["logStreamName"] for p in pages for s in p["logStreams"]] == [
        "job-a/algo-1", "job-a/algo-2", "job-b/algo-1", "other/x"]
    pages = logs.get_paginator("describe_log_streams").paginate(
        logGroupName=group, descending=True, PaginationConfig={"PageSize": 3})
    assert [s["logStreamName"] for p in pages for s in p["logStreams"]] == [
        "other/x", "job-b/algo-1", "job-a/algo-2", "job-a/algo-1"]

    code, _ = error_of(logs.describe_log_streams, logGroupName=group, orderBy="LastEventTime",
                       logStreamNamePrefix="job-a/")
    assert code == "InvalidParameterException"


# -- events -------------------------------------------------------------------------------------------

def test_get_log_events_forward_tokens_end_with_an_empty_page(logs: Any, group: str) -> None:
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    base = put(logs, group, "s", [f"line {i}" for i in range(5)])
    first = logs.get_log_events(logGroupName=group, logStreamName="s", startFromHead=True, limit=3)
    assert [e["message"] for e in first["events"]] == ["line 0", "line 1", "line 2"]
    assert first["events"][0]["timestamp"] == base
    assert abs(first["events"][0]["ingestionTime"] - now_ms()) < 60_000
    second = logs.get_log_events(logGroupName=group, logStreamName="s", nextToken=first["nextForwardToken"],
                                 limit=3)
    assert [e["message"] for e in second["events"]] == ["line 3", "line 4"]
    end = logs.get_log_events(logGroupName=group, logStreamName="s", nextToken=second["nextForwardToken"])
    assert end["events"] == []
    assert end["nextForwardToken"] == second["nextForwardToken"]  # AWS: same token at the end
    put(logs, group, "s", ["line 5"])
    more = logs.get_log_events(logGroupName=group, logStreamName="s", nextToken=end["nextForwardToken"])
    assert [e["message"] for e in more["events"]] == ["line 5"]
    back = logs.get_log_events(logGroupName=group, logStreamName="s", nextToken=more["nextBackwardToken"],
                               limit=2)
    assert [e["message"] for e in back["events"]] == ["line 3", "line 4"]


def test_get_log_events_default_reads_the_tail_and_pages_backward(logs: Any, group: str) -> None:
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    put(logs, group, "s", [f"m{i}" for i in range(6)])
    tail = logs.get_log_events(logGroupName=group, logStreamName="s", limit=2)
    assert [e["message"] for e in tail["events"]] == ["m4", "m5"]
    seen = [e["message"] for e in tail["events"]]
    token = tail["nextBackwardToken"]
    while True:
        page = logs.get_log_events(logGroupName=group, logStreamName="s", nextToken=token, limit=2)
        if not page["events"]:
            assert page["nextBackwardToken"] == token
            break
        seen = [e["message"] for e in page["events"]] + seen
        token = page["nextBackwardToken"]
    assert seen == [f"m{i}" for i in range(6)]
    ahead = logs.get_log_events(logGroupName=group, logStreamName="s", nextToken=tail["nextForwardToken"])
    assert ahead["events"] == []


def test_get_log_events_time_window_and_bad_token(logs: Any, group: str) -> None:
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    base = put(logs, group, "s", ["a", "b", "c", "d"])
    window = logs.get_log_events(logGroupName=group, logStreamName="s", startTime=base + 1, endTime=base + 3,
                                 startFromHead=True)
    assert [e["message"] for e in window["events"]] == ["b", "c"]  # endTime is exclusive
    assert error_of(logs.get_log_events, logGroupName=group, logStreamName="s",
                    nextToken="garbage")[0] == "InvalidParameterException"
    arn = f"arn:aws:logs:us-east-1:123456789012:log-group:{group}"  # logGroupArn: no trailing :*
    by_arn = logs.get_log_events(logGroupIdentifier=arn, logStreamName="s", startFromHead=True)
    assert len(by_arn["events"]) == 4


def test_put_log_events_batch_rules(logs: Any, group: str) -> None:
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    now = now_ms()
    code, message = error_of(logs.put_log_events, logGroupName=group, logStreamName="s",
                             logEvents=[{"timestamp": now, "message": "b"},
                                        {"timestamp": now - 1, "message": "a"}])
    assert code == "InvalidParameterException" and "chronological" in message
    day, minute = 24 * 3600 * 1000, 60 * 1000
    code, message = error_of(logs.put_log_events, logGroupName=group, logStreamName="s",
                             logEvents=[{"timestamp": now - 2 * day, "message": "a"},
                                        {"timestamp": now, "message": "b"}])
    assert code == "InvalidParameterException" and "24 hours" in message
    out = logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=[
        {"timestamp": now - 14 * day - 10 * minute, "message": "too old"},
        {"timestamp": now - 14 * day + 10 * minute, "message": "kept"},
        {"timestamp": now - 14 * day + 20 * minute, "message": "kept too"},
    ])
    assert out["rejectedLogEventsInfo"] == {"tooOldLogEventEndIndex": 0}
    assert out["nextSequenceToken"]
    out = logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=[
        {"timestamp": now, "message": "now"},
        {"timestamp": now + 3 * 60 * minute, "message": "too new"},
    ])
    assert out["rejectedLogEventsInfo"] == {"tooNewLogEventStartIndex": 1}
    events = logs.get_log_events(logGroupName=group, logStreamName="s", startFromHead=True)["events"]
    assert [e["message"] for e in events] == ["kept", "kept too", "now"]


def test_filter_log_events(logs: Any, group: str) -> None:
    base = now_ms() - 10_000
    for name in ("job/algo-1", "job/algo-2", "other"):
        logs.create_log_stream(logGroupName=group, logStreamName=name)
    put(logs, group, "job/algo-1", ["INFO start", "ERROR disk full", "INFO done"], start=base)
    put(logs, group, "job/algo-2", ["WARN slow", "ERROR Connection refused"], start=base + 1)
    put(logs, group, "other", ["ERROR elsewhere"], start=base + 2)

    everything = logs.filter_log_events(logGroupName=group)
    # Interleaved by timestamp; events sharing one keep stream creation order, then append order.
    assert [e["message"] for e in everything["events"]] == [
        "INFO start", "ERROR disk full", "WARN slow", "INFO done", "ERROR Connection refused",
        "ERROR elsewhere"]
    assert "nextToken" not in everything
    assert everything["events"][0]["logStreamName"] == "job/algo-1"
    assert len({e["eventId"] for e in everything["events"]}) == 6

    def messages(**kwargs: Any) -> list[str]:
        return [e["message"] for e in logs.filter_log_events(logGroupName=group, **kwargs)["events"]]

    assert messages(filterPattern="ERROR", logStreamNamePrefix="job/") == [
        "ERROR disk full", "ERROR Connection refused"]
    assert messages(filterPattern='"Connection refused"') == ["ERROR Connection refused"]
    assert messages(filterPattern="?WARN ?disk") == ["ERROR disk full", "WARN slow"]
    assert messages(filterPattern="ERROR -disk", logStreamNames=["job/algo-1", "other"]) == [
        "ERROR elsewhere"]
    assert messages(filterPattern="error") == []  # terms are case-sensitive
    assert messages(startTime=base + 1, endTime=base + 1) == [
        "ERROR disk full", "WARN slow"]  # endTime is inclusive here

    paginator = logs.get_paginator("filter_log_events")
    pages = list(paginator.paginate(logGroupName=group, PaginationConfig={"PageSize": 2}))
    assert len(pages) == 3
    assert [e["message"] for p in pages for e in p["events"]] == [e["message"] for e in everything["events"]]
    assert error_of(logs.filter_log_events, logGroupName=group, filterPattern="{ $.level = 1 }")[0] == (
        "InvalidParameterException")


def test_kiln_writers_are_visible_to_boto3(kiln_server: Any, logs: Any, unique_name: str) -> None:
    store = kiln_server.platform.logs
    scope = Scope("123456789012", "us-east-1")
    group = f"/aws/sagemaker/TrainingJobs-{unique_name}"
    store.ensure_stream(scope, group, "job/algo-1-1700000000")
    store.ensure_stream(scope, group, "job/algo-1-1700000000")  # idempotent
    base = now_ms()
    store.put_events(scope, group, "job/algo-1-1700000000", [(base + i, f"epoch {i}") for i in range(3)])
    got = logs.get_log_events(logGroupName=group, logStreamName="job/algo-1-1700000000", startFromHead=True)
    assert [e["message"] for e in got["events"]] == ["epoch 0", "epoch 1", "epoch 2"]
    assert [e.seq for e in store.read(scope, group, "job/algo-1-1700000000", after_seq=1)] == [2, 3]
    logs.delete_log_group(logGroupName=group)


# -- the SageMaker SDK's own log tail -------------------------------------------------------------------

@pytest.mark.sdk
def test_sdk_log_tail_terminates_and_sees_every_line(kiln_server: Any, logs: Any, unique_name: str) -> None:
    os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    import sagemaker.logs
    from sagemaker.session import _flush_log_streams

    store = kiln_server.platform.logs
    scope = Scope("123456789012", "us-east-1")
    group = f"/aws/sagemaker/TrainingJobs/{unique_name}"
    job = f"job-{unique_name}"
    printed: list[tuple[int, str]] = []

    def color_wrap(index: int, message: str) -> None:
        printed.append((index, message))

    positions: dict[str, Any] = {}

    def flush() -> None:
        # Exactly what Session.logs_for_job does on every poll (it passes the same empty stream list
        # and keeps `positions`): DescribeLogStreams, then GetLogEvents per stream with startTime and
        # startFromHead until an empty page. Returning at all proves the paging terminates.
        _flush_log_streams([], 2, logs, group, job, positions, False, color_wrap)

    flush()  # no group yet: the SDK prints a dot, ResourceNotFoundException is swallowed
    assert printed == []

    ts = now_ms()
    store.ensure_stream(scope, group, f"{job}/algo-1-1")
    store.ensure_stream(scope, group, f"{job}/algo-2-1")
    # Lines sharing a timestamp exercise the SDK's skip counter.
    store.put_events(scope, group, f"{job}/algo-1-1", [(ts, "a0"), (ts, "a1"), (ts + 5, "a2")])
    store.put_events(scope, group, f"{job}/algo-2-1", [(ts + 1, "b0")])
    flush()
    flush()
    assert [m for _, m in printed] == ["a0", "a1", "b0", "a2"]
    store.put_events(scope, group, f"{job}/algo-1-1", [(ts + 5, "a3"), (ts + 9, "a4")])
    store.put_events(scope, group, f"{job}/algo-2-1", [(ts + 7, "b1")])
    flush()
    assert [m for _, m in printed] == ["a0", "a1", "b0", "a2", "a3", "b1", "a4"]  # no repeats, none lost
    assert {i for i, m in printed if m.startswith("b")} == {1}

    # The module-level helpers the loop is built from, used directly.
    lines = [ev["message"] for _, ev in sagemaker.logs.multi_stream_iter(
        logs, group, [f"{job}/algo-1-1", f"{job}/algo-2-1"])]
    assert sorted(lines) == ["a0", "a1", "a2", "a3", "a4", "b0", "b1"]
    many = [(ts + 100 + i, f"bulk {i}") for i in range(25_000)]
    store.put_events(scope, group, f"{job}/algo-1-1", many)
    streamed = list(sagemaker.logs.log_stream(logs, group, f"{job}/algo-1-1", ts + 100))
    assert [e["message"] for e in streamed] == [m for _, m in many]  # three 10,000-event pages, then end
    logs.delete_log_group(logGroupName=group)
