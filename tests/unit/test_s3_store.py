"""The object store's internal Python API (what training, hosting and pipelines call)."""

from __future__ import annotations

import hashlib
import io
import logging
import os
from pathlib import Path

import pytest

from kiln.core.errors import AlreadyExists, InvalidInput, NotFound
from kiln.core.state.db import Database
from kiln.services.s3 import store as store_module
from kiln.services.s3 import tables
from kiln.services.s3.blobs import CHUNK, BlobWriter
from kiln.services.s3.models import (
    BucketNotEmpty,
    InvalidBucketName,
    InvalidKey,
    ObjectInfo,
    Segment,
    WriteOptions,
)
from kiln.services.s3.multipart import Multipart, PartRef
from kiln.services.s3.store import ObjectStore, download_prefix, parse_uri, upload_dir


@pytest.fixture
def store(tmp_path: Path) -> ObjectStore:
    db = Database(f"sqlite:///{tmp_path / 'kiln.db'}")
    db.migrate(tables.MIGRATIONS)
    s = ObjectStore(db, tmp_path / "objects")
    s.recover()
    s.create_bucket("data", "123456789012", "us-east-1")
    return s


def test_buckets(store: ObjectStore) -> None:
    assert store.bucket_exists("data")
    assert not store.bucket_exists("other")
    with pytest.raises(AlreadyExists):
        store.create_bucket("data", "123456789012", "us-east-1")
    with pytest.raises(AlreadyExists):
        store.create_bucket("data", "999999999999", "us-east-1")
    store.ensure_bucket("data", "123456789012", "us-east-1")
    store.ensure_bucket("fresh", "123456789012", "eu-west-1")
    assert store.bucket("fresh").region == "eu-west-1"
    assert store.bucket_count() == 2
    with pytest.raises(InvalidBucketName):
        store.create_bucket("Bad_Name", "123456789012", "us-east-1")
    store.put_bytes("fresh", "k", b"x")
    with pytest.raises(BucketNotEmpty):
        store.delete_bucket("fresh")
    store.delete("fresh", "k")
    store.delete_bucket("fresh")
    assert not store.bucket_exists("fresh")


def test_put_head_read(store: ObjectStore) -> None:
    info = store.put_bytes("data", "a/b.csv", b"1,2\n", content_type="text/csv", metadata={"k": "v"})
    assert isinstance(info, ObjectInfo)
    md5 = hashlib.md5(b"1,2\n").hexdigest()
    assert info.etag == f'"{md5}"'
    assert (info.size, info.content_type, info.metadata) == (4, "text/csv", {"k": "v"})
    assert store.head("data", "a/b.csv") == info
    assert store.read_bytes("data", "a/b.csv") == b"1,2\n"
    with store.open("data", "a/b.csv") as f:
        assert f.read(2) == b"1,"
        f.seek(0)
        assert f.read() == b"1,2\n"


def test_not_found(store: ObjectStore) -> None:
    with pytest.raises(NotFound) as err:
        store.head("data", "missing")
    assert err.value.kind == "Object"
    with pytest.raises(NotFound) as err:
        store.head("nobucket", "k")
    assert err.value.kind == "Bucket"
    with pytest.raises(NotFound):
        store.put_bytes("nobucket", "k", b"x")
    with pytest.raises(NotFound):
        store.open("data", "missing")


def test_invalid_keys(store: ObjectStore) -> None:
    with pytest.raises(InvalidKey) as err:
        store.put_bytes("data", "k" * 1025, b"x")
    assert err.value.too_long
    with pytest.raises(InvalidKey):
        store.put_bytes("data", "nul\x00key", b"x")
    assert not any(store.list("data"))


def test_put_file_and_download_to(store: ObjectStore, tmp_path: Path) -> None:
    src = tmp_path / "in.bin"
    data = os.urandom(3 * CHUNK + 5)
    src.write_bytes(data)
    info = store.put_file("data", "model.tar.gz", src)
    assert info.etag == f'"{hashlib.md5(data).hexdigest()}"'
    dest = tmp_path / "out" / "m.bin"
    store.download_to("data", "model.tar.gz", dest)
    assert dest.read_bytes() == data
    assert list(dest.parent.iterdir()) == [dest]


def test_list_sorted_by_utf8(store: ObjectStore) -> None:
    for key in ["b", "a/2", "a/1", "é", "Z", "a/10"]:
        store.put_bytes("data", key, b"x")
    assert [o.key for o in store.list("data")] == ["Z", "a/1", "a/10", "a/2", "b", "é"]
    assert [o.key for o in store.list("data", "a/")] == ["a/1", "a/10", "a/2"]


def test_list_many_pages(store: ObjectStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "LIST_PAGE", 7)
    for i in range(23):
        store.put_bytes("data", f"k/{i:05d}", b"")
    store.put_bytes("data", "l", b"")
    assert [o.key for o in store.list("data", "k/")] == [f"k/{i:05d}" for i in range(23)]


def test_overwrite_and_delete_remove_blobs(store: ObjectStore) -> None:
    store.put_bytes("data", "k", b"one")
    store.put_bytes("data", "k", b"two")
    assert store.read_bytes("data", "k") == b"two"
    assert len(list(store.files.scan())) == 1
    store.delete("data", "k")
    store.delete("data", "k")  # deleting a missing key is fine
    assert list(store.files.scan()) == []


def test_open_reader_survives_overwrite(store: ObjectStore) -> None:
    data = os.urandom(2 * CHUNK)
    store.put_bytes("data", "k", data)
    f = store.open("data", "k")
    head = f.read(10)
    store.put_bytes("data", "k", b"new")
    store.delete("data", "k")
    assert head + f.read() == data
    f.close()
    assert list(store.files.scan()) == []  # the deferred delete happened on close


def test_on_object_created(store: ObjectStore, caplog: pytest.LogCaptureFixture) -> None:
    seen: list[ObjectInfo] = []
    store.on_object_created(seen.append)

    def broken(_: ObjectInfo) -> None:
        raise RuntimeError("listener bug")

    store.on_object_created(broken)
    with caplog.at_level(logging.ERROR):
        info = store.put_bytes("data", "n", b"x")
    assert seen == [info]
    assert "listener bug" in caplog.text
    store.copy("data", "n", "data", "n2")
    assert [i.key for i in seen] == ["n", "n2"]


def test_copy_is_independent(store: ObjectStore) -> None:
    store.put_bytes("data", "src", b"abc", metadata={"m": "1"})
    info = store.copy("data", "src", "data", "dst")
    assert info.metadata == {"m": "1"}
    store.delete("data", "src")
    assert store.read_bytes("data", "dst") == b"abc"


def test_recover_removes_temp_files_and_orphans(store: ObjectStore) -> None:
    store.put_bytes("data", "keep", b"keep")
    (store.root / ".tmp" / "abc.part").write_bytes(b"partial")
    orphan = store.root / "ff" / "ff0000000000000000000000000000ff"
    orphan.parent.mkdir(exist_ok=True)
    orphan.write_bytes(b"orphan")
    store.recover()
    assert not orphan.exists()
    assert list((store.root / ".tmp").iterdir()) == []
    assert store.read_bytes("data", "keep") == b"keep"
    assert len(list(store.files.scan())) == 1


def test_recover_spares_writes_in_flight(store: ObjectStore) -> None:
    writer = BlobWriter(store.files)
    writer.write(b"half")
    store.recover()
    staged = writer.finish()
    store.commit("data", "late", staged)
    store.recover()
    assert store.read_bytes("data", "late") == b"half"


def test_multipart_parts_become_segments(store: ObjectStore) -> None:
    mp = Multipart(store)
    upload = mp.create("data", "big", WriteOptions("application/octet-stream"))
    a, b = os.urandom(5 * 1024 * 1024), b"tail"
    pa = mp.commit_part("data", "big", upload.upload_id, 1, store.stage_bytes(a), {})
    pb = mp.commit_part("data", "big", upload.upload_id, 2, store.stage_bytes(b), {})
    done = mp.complete("data", "big", upload.upload_id, [PartRef(1, pa.etag, {}), PartRef(2, pb.etag, {})])
    assert done.info.etag.endswith('-2"')
    record = store.record("data", "big")
    assert record.segments == (Segment(pa.blob, len(a)), Segment(pb.blob, len(b)))
    with store.open("data", "big") as f:
        f.seek(len(a) - 2)
        assert f.read(6) == a[-2:] + b
    assert store.read_bytes("data", "big") == a + b


def test_parse_uri() -> None:
    assert parse_uri("s3://b/k/x") == ("b", "k/x")
    assert parse_uri("s3://b") == ("b", "")
    assert parse_uri("s3://b/") == ("b", "")
    for bad in ("http://b/k", "s3:///k", "b/k"):
        with pytest.raises(InvalidInput):
            parse_uri(bad)


def test_download_prefix_semantics(store: ObjectStore, tmp_path: Path) -> None:
    for key in ["data/train.csv", "data/train/a.csv", "data/train/sub/b.csv", "data/test.csv", "data/folder/"]:
        store.put_bytes("data", key, key.encode())
    out = tmp_path / "channel"
    files = download_prefix(store, "s3://data/data/train", out)
    assert sorted(p.relative_to(out).as_posix() for p in files) == ["train.csv", "train/a.csv", "train/sub/b.csv"]
    assert (out / "train" / "sub" / "b.csv").read_bytes() == b"data/train/sub/b.csv"
    whole = download_prefix(store, "s3://data/data/", tmp_path / "all")
    assert len(whole) == 4  # the folder marker is skipped


def test_download_prefix_refuses_escaping_keys(store: ObjectStore, tmp_path: Path) -> None:
    store.put_bytes("data", "p/../../escape", b"x")
    with pytest.raises(InvalidInput):
        download_prefix(store, "s3://data/p/", tmp_path / "dest")
    assert not (tmp_path / "escape").exists()


def test_upload_dir(store: ObjectStore, tmp_path: Path) -> None:
    src = tmp_path / "model"
    (src / "code").mkdir(parents=True)
    (src / "model.pkl").write_bytes(b"pickle")
    (src / "code" / "inference.py").write_text("print(1)")
    infos = upload_dir(store, src, "s3://data/jobs/out")
    assert [i.key for i in infos] == ["jobs/out/code/inference.py", "jobs/out/model.pkl"]
    assert store.read_bytes("data", "jobs/out/model.pkl") == b"pickle"
    assert [i.key for i in upload_dir(store, src, "s3://data")] == ["code/inference.py", "model.pkl"]


def test_segment_reader_readinto(store: ObjectStore) -> None:
    store.put_bytes("data", "r", bytes(range(256)) * 10)
    with store.open("data", "r") as f:
        assert isinstance(f, io.BufferedReader)
        f.seek(-10, io.SEEK_END)
        assert f.read() == (bytes(range(256)) * 10)[-10:]
