"""Feature groups: create/update/delete with their status progression, metadata, and a read cache.

`create()` stores the group as `Creating`; the reconciler then provisions it (`provision()`: the
offline store's Glue table, a check that its bucket exists) and moves it to `Created` (or
`CreateFailed`). `delete()` moves it to `Deleting`; `deprovision()` flushes what the offline buffer
still holds, drops the online records and the Glue table, then forgets the group (the offline
store's Parquet files stay in the object store, as on SageMaker).
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import replace

from kiln.core.errors import AlreadyExists, InvalidInput, InvalidState, NotFound
from kiln.core.scope import Scope
from kiln.services.athena.catalog import Catalog
from kiln.services.athena.models import CatalogTable, Column
from kiln.services.featurestore import parquet
from kiln.services.featurestore.models import (
    DEFAULT_CATALOG,
    FEATURESTORE_DATABASE,
    OFFLINE_EXTRA_COLUMNS,
    FeatureDefinition,
    FeatureGroup,
    FeatureGroupSpec,
    FeatureMetadata,
    FeatureType,
    GroupStatus,
    OfflineConfig,
    OnlineConfig,
)
from kiln.services.featurestore.offline import OfflineStore
from kiln.services.featurestore.online import OnlineStore
from kiln.services.featurestore.repository import FeatureGroupRepository
from kiln.services.s3.store import ObjectStore, parse_uri

LOG = logging.getLogger(__name__)
RESERVED = frozenset({*OFFLINE_EXTRA_COLUMNS, "year", "month", "day", "hour"})
_ARN = re.compile(r"^arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:\d{12}:feature-group/(.+)$")


def group_name(name_or_arn: str) -> str:
    m = _ARN.match(name_or_arn)
    return m.group(1) if m else name_or_arn


def _check_spec(spec: FeatureGroupSpec) -> None:
    names = [f.name for f in spec.features]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InvalidInput(f"Feature names must be unique; duplicated: {', '.join(dupes)}.")  # unverified
    clash = sorted(n for n in names if n.lower() in RESERVED)
    if clash:
        raise InvalidInput(f"Feature names {clash} are reserved by the offline store.")  # unverified
    by_name = {f.name: f for f in spec.features}
    for what, name in (("RecordIdentifierFeatureName", spec.record_id_name),
                       ("EventTimeFeatureName", spec.event_time_name)):
        if name not in by_name:
            raise InvalidInput(f"The {what} {name} must be one of the FeatureDefinitions.")  # unverified
        if by_name[name].collection is not None:
            raise InvalidInput(f"The {what} {name} cannot be a collection type.")
    if by_name[spec.event_time_name].type is FeatureType.INTEGRAL:
        raise InvalidInput(f"The EventTimeFeatureName {spec.event_time_name} must be of type Fractional or "
                           f"String.")  # unverified
    if not ((spec.online is not None and spec.online.enabled) or spec.offline_s3_uri):
        raise InvalidInput("At least one of OnlineStoreConfig or OfflineStoreConfig must be enabled.")
    for f in spec.features:
        if f.collection is not None and (spec.online is None or spec.online.storage_type != "InMemory"):
            raise InvalidInput(f"Feature {f.name}: collection types are supported only by an InMemory online "
                               f"store.")  # unverified


class FeatureGroupService:
    """Thread-safe. Reads go through an in-process cache (this server is the only writer)."""

    def __init__(self, repo: FeatureGroupRepository, objects: ObjectStore, catalog: Catalog, online: OnlineStore,
                 offline: OfflineStore, clock: Callable[[], float] = time.time) -> None:
        self.repo = repo
        self.objects = objects
        self.catalog = catalog
        self.online = online
        self.offline = offline
        self.clock = clock
        self.notify: Callable[[], None] = lambda: None
        self._cache: dict[tuple[str, str, str], FeatureGroup] = {}
        self._lock = threading.Lock()
        # Bumped by every write: a read that missed the cache fills it only if no write happened while it
        # read the database (else a reader holding the `Creating` row could overwrite the reconciler's
        # `Created` one, and the group would look stuck in Creating).
        self._generation = 0

    # Reads -----------------------------------------------------------------------------------

    def get(self, scope: Scope, name_or_arn: str) -> FeatureGroup:
        """By name or ARN (case-insensitive). Raises NotFound."""
        key = (scope.account_id, scope.region, group_name(name_or_arn).lower())
        with self._lock:
            group, generation = self._cache.get(key), self._generation
        if group is None:
            group = self.repo.get(scope, key[2])
            with self._lock:
                if self._generation == generation:
                    self._cache[key] = group
        return group

    def by_store_id(self, store_id: str) -> FeatureGroup | None:
        for g in list(self._cache.values()):
            if g.store_id == store_id:
                return g
        return self.repo.by_store_id(store_id)

    def list(self, scope: Scope) -> list[FeatureGroup]:
        return self.repo.list(scope)

    def _save(self, group: FeatureGroup, expected: GroupStatus | None = None) -> FeatureGroup:
        group.modified_at = self.clock()
        self.repo.save(group, expected)
        self._forget(group)
        return group

    def _forget(self, group: FeatureGroup) -> None:
        """Invalidate (never overwrite) the cached copy: concurrent saves may finish in any order."""
        with self._lock:
            self._generation += 1
            self._cache.pop((group.scope.account_id, group.scope.region, group.name.lower()), None)

    # Writes ----------------------------------------------------------------------------------

    def create(self, scope: Scope, spec: FeatureGroupSpec) -> FeatureGroup:
        _check_spec(spec)
        now = self.clock()
        created = int(now)
        offline = None
        if spec.offline_s3_uri:
            base = spec.offline_s3_uri.rstrip("/")
            resolved = (f"{base}/{scope.account_id}/sagemaker/{scope.region}/offline-store/"
                        f"{spec.name}-{created}/data")
            catalog, database, table = spec.catalog or (
                DEFAULT_CATALOG, FEATURESTORE_DATABASE, f"{spec.name.replace('-', '_')}_{created}".lower())
            offline = OfflineConfig(spec.offline_s3_uri, resolved, catalog, database, table, spec.disable_glue,
                                    spec.table_format, spec.offline_kms_key_id)
        group = FeatureGroup(
            scope=scope, name=spec.name, store_id=uuid.uuid4().hex, record_id_name=spec.record_id_name,
            event_time_name=spec.event_time_name, features=list(spec.features), online=spec.online,
            offline=offline, status=GroupStatus.CREATING, created_at=now, modified_at=now, role_arn=spec.role_arn,
            description=spec.description, throughput=spec.throughput)
        if not self.repo.insert(group):
            raise AlreadyExists("FeatureGroup", spec.name,
                                f"Resource Already Exists: FeatureGroup with name {spec.name} already exists. "
                                f"Choose a different name.")  # unverified wording
        self.notify()
        return group

    def update(self, scope: Scope, name: str, additions: list[FeatureDefinition], online: OnlineConfig | None,
               throughput: dict[str, object] | None) -> FeatureGroup:
        group = self._require(scope, name, GroupStatus.CREATED, "updated")
        names = {f.name for f in group.features}
        clash = [f.name for f in additions if f.name in names or f.name.lower() in RESERVED]
        if clash:
            raise InvalidInput(f"Features {clash} already exist or are reserved.")  # unverified
        updated = replace(group, features=[*group.features, *additions], last_update=("Successful", None))
        if online is not None and group.online is not None:
            updated.online = replace(group.online, ttl=online.ttl or group.online.ttl,
                                     storage_type=online.storage_type or group.online.storage_type)
        if throughput:
            updated.throughput = {**(group.throughput or {}), **throughput}
        if additions and updated.offline is not None and not updated.offline.disable_glue:
            self.catalog.put_table(scope, self._catalog_table(updated))
        return self._save(updated, expected=GroupStatus.CREATED)

    def delete(self, scope: Scope, name: str) -> None:
        group = self.get(scope, name)
        if group.status is GroupStatus.DELETING:
            return
        if group.status is GroupStatus.CREATING:
            raise InvalidState(f"Feature group {group.name} is Creating; it can be deleted once created.")
        self._save(replace(group, status=GroupStatus.DELETING), expected=group.status)
        self.notify()

    def describe_metadata(self, scope: Scope, name: str, feature: str) -> tuple[FeatureGroup, FeatureDefinition,
                                                                               FeatureMetadata]:
        group = self.get(scope, name)
        definition = group.feature(feature)
        if definition is None:
            raise NotFound("Feature", feature, f"Resource Not Found: Feature {feature} does not exist in "
                                               f"feature group {group.name}.")  # unverified wording
        return group, definition, group.metadata.get(feature) or FeatureMetadata(modified_at=group.created_at)

    def update_metadata(self, scope: Scope, name: str, feature: str, description: str | None,
                        additions: dict[str, str], removals: list[str]) -> None:
        group, _, meta = self.describe_metadata(scope, name, feature)
        params = {k: v for k, v in meta.parameters.items() if k not in removals}
        params.update(additions)
        new = FeatureMetadata(description if description is not None else meta.description, params, self.clock())
        self._save(replace(group, metadata={**group.metadata, feature: new}))

    def _require(self, scope: Scope, name: str, status: GroupStatus, verb: str) -> FeatureGroup:
        group = self.get(scope, name)
        if group.status is not status:
            raise InvalidState(f"Feature group {group.name} is {group.status.value}; it can be {verb} only when "
                               f"{status.value}.")  # unverified
        return group

    # Reconciler steps ------------------------------------------------------------------------

    def provision(self, group: FeatureGroup) -> FeatureGroup:
        """Creating -> Created (or CreateFailed with a reason)."""
        try:
            if group.offline is not None:
                bucket, _ = parse_uri(group.offline.resolved_uri)
                if not self.objects.bucket_exists(bucket):
                    raise InvalidInput(f"The offline store's S3 bucket {bucket} does not exist.")
                if not group.offline.disable_glue:
                    self.catalog.ensure_database(group.scope, group.offline.database)
                    self.catalog.put_table(group.scope, self._catalog_table(group))
        except (InvalidInput, NotFound) as exc:
            LOG.info("feature group %s failed to create: %s", group.name, exc.message)
            return self._save(replace(group, status=GroupStatus.CREATE_FAILED, failure_reason=exc.message),
                              expected=GroupStatus.CREATING)
        return self._save(replace(group, status=GroupStatus.CREATED), expected=GroupStatus.CREATING)

    def deprovision(self, group: FeatureGroup) -> None:
        """Deleting -> gone."""
        if group.offline is not None:
            self.offline.flush(group.store_id)
            if not group.offline.disable_glue:
                self.catalog.delete_table(group.scope, group.offline.database, group.offline.table, missing_ok=True)
        self.online.drop(group.store_id)
        self.offline.discard(group.store_id)
        self.repo.delete(group)
        self._forget(group)

    def _catalog_table(self, group: FeatureGroup) -> CatalogTable:
        assert group.offline is not None
        columns = [Column(f.name, parquet.glue_type(f)) for f in group.features]
        columns += [Column("write_time", "timestamp"), Column("api_invocation_time", "timestamp"),
                    Column("is_deleted", "boolean")]
        return CatalogTable(database=group.offline.database, name=group.offline.table, columns=columns,
                            location=group.offline.resolved_uri,
                            parameters={"classification": "parquet", "sagemaker:feature-group-arn": group.arn},
                            description=f"Offline store of SageMaker feature group {group.name}")

    def athena_alias(self, scope: Scope, database: str, name: str) -> CatalogTable | None:
        """Kiln-only: a feature group's own name, in its offline store's database, reads its offline table
        (Athena proper knows only the Glue table name, e.g. `customers_1717670000`)."""
        try:
            group = self.get(scope, name)
        except NotFound:
            return None
        if group.offline is None or group.offline.disable_glue or group.offline.database != database.lower():
            return None
        return self.catalog.find_table(scope, group.offline.database, group.offline.table)
