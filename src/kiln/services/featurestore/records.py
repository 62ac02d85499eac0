"""Records: PutRecord / GetRecord / BatchGetRecord / DeleteRecord semantics over both stores.

A write is validated whole first (a bad value writes nothing), then appended durably to the offline
buffer, then applied to the online store (where only the latest event time is kept). Acknowledging
the request after both means an acknowledged record is in both stores, even across a crash.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from kiln.core.errors import DomainError, InvalidInput, InvalidState
from kiln.core.scope import Scope
from kiln.services.featurestore.models import (
    FeatureGroup,
    GroupStatus,
    OfflineRow,
    OnlineRecord,
    ParsedRecord,
    Record,
    TargetStore,
    Ttl,
    Value,
)
from kiln.services.featurestore.offline import OfflineStore
from kiln.services.featurestore.online import OnlineStore
from kiln.services.featurestore.service import FeatureGroupService
from kiln.services.featurestore.values import parse_event_time, parse_record


@dataclass(frozen=True, slots=True)
class WriteRequest:
    group: str
    pairs: list[tuple[str, Value | None]]
    targets: list[str] | None = None
    ttl: Ttl | None = None


@dataclass(frozen=True, slots=True)
class FoundRecord:
    values: Record
    expires_at: float | None


class RecordService:
    def __init__(self, groups: FeatureGroupService, online: OnlineStore, offline: OfflineStore,
                 clock: Callable[[], float] = time.time) -> None:
        self.groups = groups
        self.online = online
        self.offline = offline
        self.clock = clock
        self.on_append: Callable[[], None] = lambda: None
        self.last_ingest: dict[str, float] = {}

    def group(self, scope: Scope, name: str) -> FeatureGroup:
        group = self.groups.get(scope, name)
        if group.status is not GroupStatus.CREATED:
            raise InvalidState(f"Feature group {group.name} is {group.status.value}; records can be read and "
                               f"written once it is Created.")  # unverified wording
        return group

    @staticmethod
    def _targets(group: FeatureGroup, targets: Sequence[str] | None) -> tuple[bool, bool]:
        wanted = set(targets or ())
        online = group.online_enabled and (not wanted or TargetStore.ONLINE in wanted)
        offline = group.offline is not None and (not wanted or TargetStore.OFFLINE in wanted)
        if TargetStore.ONLINE in wanted and not group.online_enabled:
            raise InvalidInput(f"Feature group {group.name} does not have an OnlineStore.")  # unverified
        if TargetStore.OFFLINE in wanted and group.offline is None:
            raise InvalidInput(f"Feature group {group.name} does not have an OfflineStore.")  # unverified
        return online, offline

    def _online_record(self, group: FeatureGroup, rec: ParsedRecord, ttl: Ttl | None, now: float) -> OnlineRecord:
        ttl = ttl or (group.online.ttl if group.online is not None else None)
        expires = rec.event_time + ttl.seconds if ttl is not None else None
        return OnlineRecord(rec.values, rec.event_time, now, expires)

    # Writes ----------------------------------------------------------------------------------

    def put(self, scope: Scope, request: WriteRequest) -> None:
        group = self.group(scope, request.group)
        rec = parse_record(group, request.pairs)
        self._write(group, [rec], request.targets, request.ttl)

    def put_many(self, scope: Scope, requests: Sequence[WriteRequest]) -> list[DomainError | None]:
        """BatchWriteRecord: each entry succeeds or fails alone; valid entries of one group share a write."""
        results: list[DomainError | None] = [None] * len(requests)
        grouped: dict[tuple[str, tuple[str, ...], Ttl | None], list[tuple[int, FeatureGroup, ParsedRecord]]] = {}
        for i, req in enumerate(requests):
            try:
                group = self.group(scope, req.group)
                self._targets(group, req.targets)
                rec = parse_record(group, req.pairs)
            except DomainError as exc:  # a bad entry fails alone
                results[i] = exc
                continue
            key = (group.store_id, tuple(sorted(req.targets or ())), req.ttl)
            grouped.setdefault(key, []).append((i, group, rec))
        for (_, targets, ttl), items in grouped.items():
            self._write(items[0][1], [rec for _, _, rec in items], list(targets) or None, ttl)
        return results

    def _write(self, group: FeatureGroup, records: Sequence[ParsedRecord], targets: Sequence[str] | None,
               ttl: Ttl | None) -> None:
        to_online, to_offline = self._targets(group, targets)
        now = self.clock()
        if to_offline:
            self.offline.append(group.store_id, [OfflineRow(r.values, r.event_time, now) for r in records])
            self.on_append()
        if to_online:
            items = [(r.record_id, self._online_record(group, r, ttl, now)) for r in records]
            if len(items) == 1:
                self.online.put(group.store_id, *items[0])
            else:
                self.online.put_many(group.store_id, items)
        self.last_ingest[group.store_id] = now

    def delete(self, scope: Scope, name: str, record_id: str, event_time: str, targets: Sequence[str] | None,
               hard: bool) -> None:
        group = self.group(scope, name)
        to_online, to_offline = self._targets(group, targets)
        when = parse_event_time(event_time, group.event_time_type)
        now = self.clock()
        if to_online and hard and not self.online.hard_delete(group.store_id, record_id, when):
            raise InvalidInput(f"EventTime: the EventTime {event_time} of the delete is not later than the "
                               f"EventTime of the existing record.")  # DeleteRecord docs; exact text unverified
        if to_online and not hard:
            self.online.soft_delete(group.store_id, record_id, when, now)
        if to_offline:
            marker = {group.record_id_name: record_id, group.event_time_name: event_time}
            self.offline.append(group.store_id, [OfflineRow(marker, when, now, is_deleted=True)])
            self.on_append()

    # Reads -----------------------------------------------------------------------------------

    def _online_group(self, scope: Scope, name: str) -> FeatureGroup:
        group = self.group(scope, name)
        if not group.online_enabled:
            raise InvalidInput(f"Feature group {group.name} does not have an OnlineStore.")  # unverified
        return group

    @staticmethod
    def _project(group: FeatureGroup, values: Record, names: Sequence[str] | None) -> Record:
        if not names:
            return {f.name: values[f.name] for f in group.features if f.name in values}
        unknown = [n for n in names if group.feature(n) is None]
        if unknown:
            raise InvalidInput(f"Feature names {unknown} do not exist in feature group {group.name}.")  # unverified
        return {n: values[n] for n in names if n in values}

    def get(self, scope: Scope, name: str, record_id: str, names: Sequence[str] | None) -> FoundRecord | None:
        group = self._online_group(scope, name)
        rec = self.online.get(group.store_id, record_id, self.clock())
        if rec is None:
            return None
        return FoundRecord(self._project(group, rec.values, names), rec.expires_at)

    def get_many(self, scope: Scope, name: str, record_ids: Sequence[str],
                 names: Sequence[str] | None) -> tuple[FeatureGroup, dict[str, FoundRecord]]:
        group = self._online_group(scope, name)
        found = self.online.get_many(group.store_id, record_ids, self.clock())
        return group, {rid: FoundRecord(self._project(group, rec.values, names), rec.expires_at)
                       for rid, rec in found.items()}

    def list_ids(self, scope: Scope, name: str, token: str | None, limit: int,
                 include_soft_deleted: bool) -> tuple[list[str], str | None]:
        group = self._online_group(scope, name)
        return self.online.list_ids(group.store_id, token, limit, self.clock(), include_soft_deleted)

    def count_online(self, group: FeatureGroup) -> int:
        return self.online.count(group.store_id, self.clock()) if group.online_enabled else 0

    # Bulk ------------------------------------------------------------------------------------

    def ingest_rows(self, scope: Scope, name: str, rows: Iterable[Sequence[tuple[str, Value | None]]],
                    chunk: int = 5000) -> int:
        """The bulk path for large frames: validate and write in chunks (one transaction per chunk per store).

        Raises InvalidInput naming the first bad row; chunks before it stay written.
        """
        group = self.group(scope, name)
        batch: list[ParsedRecord] = []
        total = 0
        for i, pairs in enumerate(rows):
            try:
                batch.append(parse_record(group, pairs))
            except InvalidInput as exc:
                raise InvalidInput(f"row {i}: {exc.message}") from exc
            if len(batch) >= chunk:
                self._write(group, batch, None, None)
                total += len(batch)
                batch = []
        if batch:
            self._write(group, batch, None, None)
            total += len(batch)
        return total
