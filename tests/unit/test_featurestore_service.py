"""Feature-group status progression (no server): Creating -> Created | CreateFailed, Deleting -> gone."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiln.core.errors import AlreadyExists, InvalidState, NotFound
from kiln.core.scope import Scope
from kiln.core.state.db import Database
from kiln.services.athena.catalog import Catalog
from kiln.services.featurestore import assembly
from kiln.services.featurestore.models import (
    FeatureDefinition,
    FeatureGroupSpec,
    FeatureType,
    GroupStatus,
    OfflineRow,
    OnlineConfig,
)
from kiln.services.featurestore.offline import OfflineStore
from kiln.services.featurestore.online import SqliteOnlineStore
from kiln.services.featurestore.repository import FeatureGroupRepository
from kiln.services.featurestore.service import FeatureGroupService
from kiln.services.s3 import tables as s3_tables
from kiln.services.s3.store import ObjectStore

SCOPE = Scope("123456789012", "us-east-1")


def spec(name: str, uri: str | None = "s3://bkt/fs") -> FeatureGroupSpec:
    return FeatureGroupSpec(name, "id", "et", [FeatureDefinition("id", FeatureType.STRING),
                                               FeatureDefinition("et", FeatureType.FRACTIONAL)],
                            OnlineConfig(True), offline_s3_uri=uri)


@pytest.fixture
def service(tmp_path: Path) -> FeatureGroupService:
    db = Database(f"sqlite:///{tmp_path / 'kiln.db'}")
    db.migrate([*s3_tables.MIGRATIONS, *assembly.MIGRATIONS])
    objects = ObjectStore(db, tmp_path / "objects")
    objects.create_bucket("bkt", SCOPE.account_id, SCOPE.region)
    online = SqliteOnlineStore(tmp_path / "online.sqlite")
    holder: dict[str, FeatureGroupService] = {}
    offline = OfflineStore(db, objects, lambda sid: holder["s"].by_store_id(sid))
    holder["s"] = FeatureGroupService(FeatureGroupRepository(db), objects, Catalog(db), online, offline,
                                      clock=lambda: 1780740000.0)
    return holder["s"]


def test_create_is_creating_until_provisioned(service: FeatureGroupService) -> None:
    notified: list[bool] = []
    service.notify = lambda: notified.append(True)
    group = service.create(SCOPE, spec("g1"))
    assert group.status is GroupStatus.CREATING and notified == [True]
    assert service.get(SCOPE, "G1").status is GroupStatus.CREATING  # names are case-insensitive
    with pytest.raises(InvalidState):
        service.delete(SCOPE, "g1")
    with pytest.raises(AlreadyExists):
        service.create(SCOPE, spec("g1"))
    done = service.provision(group)
    assert done.status is GroupStatus.CREATED
    assert done.offline is not None and done.offline.table == "g1_1780740000"
    assert service.catalog.get_table(SCOPE, "sagemaker_featurestore", "g1_1780740000").location == (
        "s3://bkt/fs/123456789012/sagemaker/us-east-1/offline-store/g1-1780740000/data")


def test_missing_bucket_is_create_failed(service: FeatureGroupService) -> None:
    group = service.provision(service.create(SCOPE, spec("g2", "s3://no-such-bucket/x")))
    assert group.status is GroupStatus.CREATE_FAILED and "no-such-bucket" in (group.failure_reason or "")


def test_delete_flushes_then_forgets(service: FeatureGroupService) -> None:
    group = service.provision(service.create(SCOPE, spec("g3")))
    service.offline.append(group.store_id, [OfflineRow({"id": "a", "et": "1780740000"}, 1780740000.0, 1.0)])
    service.delete(SCOPE, "g3")
    deleting = service.get(SCOPE, "g3")
    assert deleting.status is GroupStatus.DELETING
    service.deprovision(deleting)
    with pytest.raises(NotFound):
        service.get(SCOPE, "g3")
    keys = [i.key for i in service.objects.list("bkt", "fs/")]
    assert len(keys) == 1 and keys[0].endswith(".parquet")  # the offline data stays, complete
    assert service.catalog.find_table(SCOPE, "sagemaker_featurestore", "g3_1780740000") is None


def test_bulk_ingest_validates_every_row_and_writes_both_stores(service: FeatureGroupService) -> None:
    from kiln.core.errors import InvalidInput
    from kiln.services.featurestore.records import RecordService

    group = service.provision(service.create(SCOPE, spec("g4")))
    records = RecordService(service, service.online, service.offline)
    rows = [[("id", f"r{i}"), ("et", str(1780740000 + i))] for i in range(12)]
    assert records.ingest_rows(SCOPE, "g4", rows, chunk=5) == 12
    assert service.online.count(group.store_id, 1780740100.0) == 12
    assert service.offline.pending(group.store_id) == 12
    with pytest.raises(InvalidInput, match="row 1:"):
        records.ingest_rows(SCOPE, "g4", [rows[0], [("id", "x"), ("et", "not-a-number")]])


def test_a_slow_reader_never_caches_a_stale_status(service: FeatureGroupService) -> None:
    """The race behind groups that looked stuck in Creating: a describe misses the cache and reads the
    Creating row; the reconciler saves Created meanwhile; the describe must not then cache its stale copy."""
    import threading

    created = service.create(SCOPE, spec("racy"))
    service._forget(created)  # start from an empty cache, as after a restart
    read_done, saved = threading.Event(), threading.Event()
    real_get = service.repo.get

    def slow_get(scope: Scope, name: str) -> object:
        row = real_get(scope, name)  # the Creating row
        read_done.set()
        saved.wait(5)  # the reconciler provisions while this read is in flight
        return row

    service.repo.get = slow_get  # type: ignore[method-assign]
    reader = threading.Thread(target=service.get, args=(SCOPE, "racy"))
    reader.start()
    assert read_done.wait(5)
    service.provision(created)
    saved.set()
    reader.join(5)
    service.repo.get = real_get  # type: ignore[method-assign]
    assert service.get(SCOPE, "racy").status is GroupStatus.CREATED
