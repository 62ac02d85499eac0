"""LogStore, filter patterns and PutLogEvents batch rules, without a server."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from kiln.core.errors import AlreadyExists, InvalidInput, NotFound
from kiln.core.scope import Scope
from kiln.core.state.db import Database
from kiln.services.logs import ingest
from kiln.services.logs.patterns import compile_pattern
from kiln.services.logs.store import LogEvent, LogStore
from kiln.services.logs.tables import MIGRATIONS

SCOPE = Scope("123456789012", "us-east-1")
OTHER = Scope("210987654321", "eu-west-1")


@pytest.fixture
def store(tmp_path: Path) -> LogStore:
    db = Database(f"sqlite:///{tmp_path / 'kiln.db'}")
    assert db.migrate(MIGRATIONS) == ["logs-0001-groups-streams-events"]
    assert db.migrate(MIGRATIONS) == []
    return LogStore(db)


def test_ensure_stream_then_put_and_read(store: LogStore) -> None:
    group, stream = "/aws/sagemaker/TrainingJobs", "job/algo-1-1"
    store.ensure_stream(SCOPE, group, stream)
    store.ensure_stream(SCOPE, group, stream)
    store.ensure_stream(SCOPE, group, "job/algo-2-1")
    store.put_events(SCOPE, group, stream, [(20, "b"), (10, "a"), (30, "c")])
    store.put_events(SCOPE, group, stream, [])
    events = store.read(SCOPE, group, stream)
    assert [(e.seq, e.timestamp, e.message) for e in events] == [(1, 20, "b"), (2, 10, "a"), (3, 30, "c")]
    assert isinstance(events[0], LogEvent) and events[0].ingestion_time > 0
    assert [e.seq for e in store.read(SCOPE, group, stream, after_seq=1)] == [2, 3]
    assert [e.message for e in store.read(SCOPE, group, stream, start_ms=20)] == ["b", "c"]
    assert [e.message for e in store.read(SCOPE, group, stream, limit=1)] == ["b"]
    assert [e.message for e in store.read_back(SCOPE, group, stream, limit=2)] == ["a", "c"]
    (first, other) = store.list_streams(SCOPE, group)
    assert (first.first_event_ms, first.last_event_ms, first.stored_bytes, first.last_seq) == (10, 30, 3, 3)
    assert other.first_event_ms is None and other.last_seq == 0
    assert store.counts() == {"logGroups": 1, "logStreams": 2, "logEvents": 3}


def test_scopes_are_separate(store: LogStore) -> None:
    store.ensure_stream(SCOPE, "g", "s")
    store.put_events(SCOPE, "g", "s", [(1, "mine")])
    with pytest.raises(NotFound) as info:
        store.read(OTHER, "g", "s")
    assert info.value.kind == "log group"
    store.ensure_stream(OTHER, "g", "s")
    assert store.read(OTHER, "g", "s") == []
    assert [g.name for g in store.list_groups(OTHER)] == ["g"]


def test_errors(store: LogStore) -> None:
    with pytest.raises(NotFound, match="log group does not exist"):
        store.put_events(SCOPE, "g", "s", [(1, "x")])
    store.create_group(SCOPE, "g")
    with pytest.raises(AlreadyExists):
        store.create_group(SCOPE, "g")
    with pytest.raises(NotFound, match="log stream does not exist") as info:
        store.put_events(SCOPE, "g", "s", [(1, "x")])
    assert info.value.kind == "log stream"
    store.create_stream(SCOPE, "g", "s")
    with pytest.raises(AlreadyExists):
        store.create_stream(SCOPE, "g", "s")


def test_cached_stream_ids_survive_delete_and_recreate(store: LogStore) -> None:
    store.ensure_stream(SCOPE, "g", "s")
    store.put_events(SCOPE, "g", "s", [(1, "old")])
    other = LogStore(store.db)  # a second writer deletes behind the first one's cache
    other.delete_group(SCOPE, "g")
    with pytest.raises(NotFound):
        store.put_events(SCOPE, "g", "s", [(2, "lost")])
    other.ensure_stream(SCOPE, "g", "s")
    store.put_events(SCOPE, "g", "s", [(3, "new")])
    assert [(e.seq, e.message) for e in store.read(SCOPE, "g", "s")] == [(1, "new")]


def test_concurrent_writers_keep_every_event(store: LogStore) -> None:
    store.ensure_stream(SCOPE, "g", "s")

    def write(worker: int) -> None:
        for i in range(50):
            store.put_events(SCOPE, "g", "s", [(i, f"{worker}:{i}"), (i, f"{worker}:{i}b")])

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    events = store.read(SCOPE, "g", "s")
    assert [e.seq for e in events] == list(range(1, 401))
    assert len({e.message for e in events}) == 400
    for worker in range(4):  # each batch stays contiguous and in order
        mine = [e for e in events if e.message.startswith(f"{worker}:")]
        assert [e.message for e in mine] == [f"{worker}:{i}{s}" for i in range(50) for s in ("", "b")]


def test_filter_pages_across_streams(store: LogStore) -> None:
    for name in ("a", "b"):
        store.ensure_stream(SCOPE, "g", name)
    store.put_events(SCOPE, "g", "a", [(t, f"a{t}") for t in range(0, 10, 2)])
    store.put_events(SCOPE, "g", "b", [(t, f"b{t}") for t in range(1, 10, 2)])
    seen: list[str] = []
    after = None
    while True:
        page = store.filter(SCOPE, "g", after=after, limit=3)
        seen += [f.event.message for f in page.events]
        if page.resume_after is None:
            break
        after = page.resume_after
    assert seen == ["a0", "b1", "a2", "b3", "a4", "b5", "a6", "b7", "a8", "b9"]
    odd = store.filter(SCOPE, "g", match=compile_pattern("b"), streams=["b"], start_ms=3, end_ms=7)
    assert [f.event.message for f in odd.events] == ["b3", "b5", "b7"] and odd.resume_after is None
    capped = store.filter(SCOPE, "g", match=compile_pattern("nothing"), max_scan=1000)
    assert capped.events == [] and capped.resume_after is None


@pytest.mark.parametrize(("pattern", "message", "matches"), [
    ("", "anything", True),
    ("ERROR", "an ERROR here", True),
    ("ERROR", "an error here", False),
    ("ERROR disk", "disk ERROR", True),
    ("ERROR disk", "ERROR net", False),
    ('"disk full"', "the disk full again", True),
    ('"disk full"', "full disk", False),
    ("?WARN ?ERROR", "WARN x", True),
    ("?WARN ?ERROR", "INFO x", False),
    ("ERROR -retry", "ERROR retry 1", False),
    ("ERROR -retry", "ERROR fatal", True),
])
def test_term_patterns(pattern: str, message: str, matches: bool) -> None:
    assert compile_pattern(pattern)(message) is matches


def test_unsupported_patterns_are_refused() -> None:
    for pattern in ('{ $.level = "error" }', "[ip, user]", '"unterminated'):
        with pytest.raises(InvalidInput):
            compile_pattern(pattern)


def test_admit_batch_rules() -> None:
    now = 100 * 24 * 3600 * 1000
    day, hour = 24 * 3600 * 1000, 3600 * 1000
    ok = ingest.admit([(now - 1, "a"), (now, "b")], now)
    assert (ok.start, ok.stop, ok.too_old_end, ok.too_new_start) == (0, 2, None, None)
    edge = now - 14 * day
    split = ingest.admit([(edge - 2, "old"), (edge - 1, "old"), (edge + hour, "ok")], now)
    assert (split.start, split.stop, split.too_old_end) == (2, 3, 1)
    new = ingest.admit([(now, "ok"), (now + 3 * hour, "new")], now)
    assert (new.start, new.stop, new.too_new_start) == (0, 1, 1)
    with pytest.raises(InvalidInput, match="chronological"):
        ingest.admit([(2, "b"), (1, "a")], now)
    with pytest.raises(InvalidInput, match="24 hours"):
        ingest.admit([(now - 2 * day, "a"), (now, "b")], now)
    with pytest.raises(InvalidInput):
        ingest.admit([(now, "x" * 600_000), (now, "y" * 600_000)], now)
