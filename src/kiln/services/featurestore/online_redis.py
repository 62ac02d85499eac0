"""The online store on Redis (scale-out): one hash per record, compare-and-set in Lua.

Keys: `<prefix>:r:<store_id>:<record_id>` is a hash {e: event time, w: written at, x: expires at or
"", d: 0/1 deleted, p: JSON values}; `<prefix>:i:<store_id>` is the set of the group's record ids
(listing, counting and drop). Expiring records also get Redis' own expiry (PEXPIREAT), so an
expired record leaves memory without a sweep. Same contract as online.OnlineStore.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from kiln.services.featurestore.models import OnlineRecord
from kiln.services.featurestore.online import OnlineStore, encode_values

# KEYS[1] record hash, KEYS[2] id set. ARGV: event, written, expires ("" = never), deleted, payload,
# record id, strict (1: the new event time must be after the stored one; 0: at or after).
_PUT = """
local cur = redis.call('HGET', KEYS[1], 'e')
if cur then
  local c, n = tonumber(cur), tonumber(ARGV[1])
  if (ARGV[7] == '1' and n <= c) or (ARGV[7] == '0' and n < c) then return 0 end
end
redis.call('HSET', KEYS[1], 'e', ARGV[1], 'w', ARGV[2], 'x', ARGV[3], 'd', ARGV[4], 'p', ARGV[5])
if ARGV[3] ~= '' then
  redis.call('PEXPIREAT', KEYS[1], math.floor(tonumber(ARGV[3]) * 1000))
else
  redis.call('PERSIST', KEYS[1])
end
redis.call('SADD', KEYS[2], ARGV[6])
return 1
"""
_HARD_DELETE = """
local cur = redis.call('HGET', KEYS[1], 'e')
if cur and tonumber(ARGV[1]) <= tonumber(cur) then return 0 end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[2])
return 1
"""
_FIELDS = ("e", "w", "x", "d", "p")


class RedisOnlineStore(OnlineStore):
    def __init__(self, url: str, prefix: str = "kiln:fs") -> None:
        import redis

        self.client: Any = redis.Redis.from_url(url, decode_responses=True)
        self.prefix = prefix
        self._put = self.client.register_script(_PUT)
        self._hard = self.client.register_script(_HARD_DELETE)

    def _key(self, store_id: str, record_id: str) -> str:
        return f"{self.prefix}:r:{store_id}:{record_id}"

    def _ids(self, store_id: str) -> str:
        return f"{self.prefix}:i:{store_id}"

    def _args(self, record_id: str, rec: OnlineRecord, strict: bool) -> list[Any]:
        return [repr(rec.event_time), repr(rec.written_at), "" if rec.expires_at is None else repr(rec.expires_at),
                int(rec.deleted), encode_values(rec.values), record_id, 1 if strict else 0]  # type: ignore[arg-type]

    def put(self, store_id: str, record_id: str, record: OnlineRecord) -> bool:
        keys = [self._key(store_id, record_id), self._ids(store_id)]
        return bool(self._put(keys=keys, args=self._args(record_id, record, False)))

    def put_many(self, store_id: str, items: Sequence[tuple[str, OnlineRecord]]) -> list[bool]:
        pipe = self.client.pipeline(transaction=False)
        for rid, rec in items:
            self._put(keys=[self._key(store_id, rid), self._ids(store_id)], args=self._args(rid, rec, False),
                      client=pipe)
        return [bool(r) for r in pipe.execute()]

    @staticmethod
    def _record(fields: Sequence[str | None], now: float) -> OnlineRecord | None:
        e, w, x, d, p = fields
        if e is None or d == "1":
            return None
        expires = float(x) if x else None
        if expires is not None and expires <= now:
            return None
        return OnlineRecord(json.loads(p or "{}"), float(e), float(w or 0), expires, False)

    def get(self, store_id: str, record_id: str, now: float) -> OnlineRecord | None:
        return self._record(self.client.hmget(self._key(store_id, record_id), _FIELDS), now)

    def get_many(self, store_id: str, record_ids: Sequence[str], now: float) -> dict[str, OnlineRecord]:
        ids = list(dict.fromkeys(record_ids))
        pipe = self.client.pipeline(transaction=False)
        for rid in ids:
            pipe.hmget(self._key(store_id, rid), _FIELDS)
        out = {}
        for rid, fields in zip(ids, pipe.execute(), strict=True):
            rec = self._record(fields, now)
            if rec is not None:
                out[rid] = rec
        return out

    def soft_delete(self, store_id: str, record_id: str, event_time: float, written_at: float) -> bool:
        tomb = OnlineRecord({}, event_time, written_at, None, True)
        keys = [self._key(store_id, record_id), self._ids(store_id)]
        return bool(self._put(keys=keys, args=self._args(record_id, tomb, True)))

    def hard_delete(self, store_id: str, record_id: str, event_time: float) -> bool:
        keys = [self._key(store_id, record_id), self._ids(store_id)]
        return bool(self._hard(keys=keys, args=[repr(event_time), record_id]))

    def list_ids(self, store_id: str, token: str | None, limit: int, now: float,
                 include_soft_deleted: bool = False) -> tuple[list[str], str | None]:
        cursor = int(token or 0)
        found: list[str] = []
        while True:
            cursor, batch = self.client.sscan(self._ids(store_id), cursor, count=max(limit, 10))
            found += self._live(store_id, batch, now, include_soft_deleted)
            if cursor == 0 or len(found) >= limit:
                break
        # SSCAN may return more than asked; what does not fit is not skipped, only returned early.
        return found, (str(cursor) if cursor != 0 else None)

    def _live(self, store_id: str, ids: Sequence[str], now: float, include_soft_deleted: bool) -> list[str]:
        pipe = self.client.pipeline(transaction=False)
        for rid in ids:
            pipe.hmget(self._key(store_id, rid), ("e", "x", "d"))
        out = []
        for rid, (e, x, d) in zip(ids, pipe.execute(), strict=True):
            if e is None or (x and float(x) <= now) or (d == "1" and not include_soft_deleted):
                continue
            out.append(rid)
        return out

    def count(self, store_id: str, now: float) -> int:
        total, cursor = 0, 0
        while True:
            cursor, batch = self.client.sscan(self._ids(store_id), cursor, count=1000)
            total += len(self._live(store_id, batch, now, False))
            if cursor == 0:
                return total

    def drop(self, store_id: str) -> None:
        cursor = 0
        while True:
            cursor, batch = self.client.sscan(self._ids(store_id), cursor, count=1000)
            if batch:
                self.client.delete(*[self._key(store_id, rid) for rid in batch])
            if cursor == 0:
                break
        self.client.delete(self._ids(store_id))

    def sweep_expired(self, now: float) -> int:
        return 0  # Redis expires records itself (PEXPIREAT); id-set entries are pruned by readers

    def close(self) -> None:
        self.client.close()
