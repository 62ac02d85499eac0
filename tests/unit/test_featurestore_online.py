"""One conformance suite for every online store: SQLite (embedded) and Redis (a real redis-server)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kiln.services.featurestore.models import OnlineRecord
from kiln.services.featurestore.online import OnlineStore, SqliteOnlineStore


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is not installed (.ci/run installs it)")
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    port = _free_port()
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if time.time() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("redis-server did not start") from None
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(timeout=10)


def rec(v: str, event: float, *, expires: float | None = None, written: float = 1.0) -> OnlineRecord:
    return OnlineRecord({"id": "r", "v": v}, event, written, expires)


class OnlineStoreContract:
    """Subclasses provide `store`. Every test uses a fresh store id."""

    @pytest.fixture
    def sid(self) -> str:
        return uuid.uuid4().hex

    def test_put_get_and_missing(self, store: OnlineStore, sid: str) -> None:
        assert store.put(sid, "r", rec("1", 10.0))
        got = store.get(sid, "r", now=100.0)
        assert got is not None and got.values == {"id": "r", "v": "1"} and got.event_time == 10.0
        assert store.get(sid, "nope", now=100.0) is None
        assert store.get(uuid.uuid4().hex, "r", now=100.0) is None

    def test_latest_event_time_wins_and_ties_go_to_the_later_write(self, store: OnlineStore, sid: str) -> None:
        assert store.put(sid, "r", rec("new", 20.0))
        assert not store.put(sid, "r", rec("old", 10.0))
        assert store.get(sid, "r", 100.0).values["v"] == "new"  # type: ignore[union-attr]
        assert store.put(sid, "r", rec("tie", 20.0))
        assert store.get(sid, "r", 100.0).values["v"] == "tie"  # type: ignore[union-attr]

    def test_values_with_lists_and_unicode_round_trip(self, store: OnlineStore, sid: str) -> None:
        values = {"id": "ü", "tags": ["a", "b,c", ""], "s": "x\"y'z"}
        store.put(sid, "ü", OnlineRecord(values, 1.0, 1.0))  # type: ignore[arg-type]
        assert store.get(sid, "ü", 2.0).values == values  # type: ignore[union-attr]

    def test_soft_delete_leaves_a_tombstone(self, store: OnlineStore, sid: str) -> None:
        store.put(sid, "r", rec("1", 10.0))
        assert not store.soft_delete(sid, "r", 10.0, 2.0)  # not later: no delete
        assert store.get(sid, "r", 100.0) is not None
        assert store.soft_delete(sid, "r", 11.0, 2.0)
        assert store.get(sid, "r", 100.0) is None
        assert not store.put(sid, "r", rec("older", 10.5))  # cannot resurrect with an older write
        assert store.get(sid, "r", 100.0) is None
        ids, _ = store.list_ids(sid, None, 10, 100.0, include_soft_deleted=True)
        assert ids == ["r"]
        assert store.list_ids(sid, None, 10, 100.0)[0] == []
        assert store.put(sid, "r", rec("newer", 12.0))
        assert store.get(sid, "r", 100.0).values["v"] == "newer"  # type: ignore[union-attr]

    def test_hard_delete(self, store: OnlineStore, sid: str) -> None:
        store.put(sid, "r", rec("1", 10.0))
        assert not store.hard_delete(sid, "r", 9.0)
        assert store.get(sid, "r", 100.0) is not None
        assert store.hard_delete(sid, "r", 11.0)
        assert store.get(sid, "r", 100.0) is None
        assert store.list_ids(sid, None, 10, 100.0, include_soft_deleted=True)[0] == []
        assert store.put(sid, "r", rec("older-is-fine-now", 5.0))
        assert store.hard_delete(sid, "never-existed", 1.0)

    def test_expiry(self, store: OnlineStore, sid: str) -> None:
        now = time.time()
        store.put(sid, "gone", rec("1", now - 100, expires=now - 1))
        store.put(sid, "live", rec("2", now - 100, expires=now + 3600))
        assert store.get(sid, "gone", now) is None
        live = store.get(sid, "live", now)
        assert live is not None and live.expires_at == pytest.approx(now + 3600)
        assert store.count(sid, now) == 1
        assert set(store.get_many(sid, ["gone", "live"], now)) == {"live"}
        store.sweep_expired(now)
        assert store.get(sid, "gone", now) is None

    def test_get_many_list_count_drop(self, store: OnlineStore, sid: str) -> None:
        ids = [f"id-{i:03d}" for i in range(25)]
        assert all(store.put_many(sid, [(i, rec(i, 1.0)) for i in ids]))
        store.soft_delete(sid, "id-000", 2.0, 2.0)
        got = store.get_many(sid, ["id-001", "id-002", "id-000", "missing", "id-001"], 10.0)
        assert set(got) == {"id-001", "id-002"} and got["id-002"].values["v"] == "id-002"
        assert store.count(sid, 10.0) == 24
        seen: list[str] = []
        token = None
        while True:
            page, token = store.list_ids(sid, token, 7, 10.0)
            seen += page
            if token is None:
                break
        assert sorted(seen) == ids[1:]
        store.drop(sid)
        assert store.count(sid, 10.0) == 0 and store.get(sid, "id-001", 10.0) is None

    def test_put_many_keeps_only_newer(self, store: OnlineStore, sid: str) -> None:
        store.put(sid, "a", rec("a2", 2.0))
        assert store.put_many(sid, [("a", rec("a1", 1.0)), ("b", rec("b1", 1.0))]) == [False, True]
        assert store.get(sid, "a", 10.0).values["v"] == "a2"  # type: ignore[union-attr]


class TestSqliteOnlineStore(OnlineStoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[OnlineStore]:
        s = SqliteOnlineStore(tmp_path / "online.sqlite")
        yield s
        s.close()


class TestRedisOnlineStore(OnlineStoreContract):
    @pytest.fixture
    def store(self, redis_url: str) -> Iterator[OnlineStore]:
        from kiln.services.featurestore.online_redis import RedisOnlineStore

        s = RedisOnlineStore(redis_url, prefix=f"t{uuid.uuid4().hex[:6]}")
        yield s
        s.close()
