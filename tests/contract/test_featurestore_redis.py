"""A `kiln server` whose online store is Redis (KILN_FEATURESTORE_ONLINE_STORE=redis://...): the same
records API, served from a real redis-server started here."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from server_proc import ServerProcess, free_port


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is not installed (.ci/run installs it)")
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if time.time() > deadline:
                proc.kill()
                raise
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(timeout=10)


def test_server_with_redis_online_store(tmp_path: Path, redis_url: str) -> None:
    import redis

    server = ServerProcess(tmp_path / "data", KILN_FEATURESTORE_ONLINE_STORE=redis_url).wait_healthy()
    try:
        server.client("s3").create_bucket(Bucket="kiln-redis-fs")
        sm, rt = server.client("sagemaker"), server.client("sagemaker-featurestore-runtime")
        sm.create_feature_group(
            FeatureGroupName="redis-group", RecordIdentifierFeatureName="id", EventTimeFeatureName="t",
            FeatureDefinitions=[{"FeatureName": "id", "FeatureType": "String"},
                                {"FeatureName": "t", "FeatureType": "Fractional"},
                                {"FeatureName": "v", "FeatureType": "Integral"}],
            OnlineStoreConfig={"EnableOnlineStore": True},
            OfflineStoreConfig={"S3StorageConfig": {"S3Uri": "s3://kiln-redis-fs/fs"}})
        while sm.describe_feature_group(FeatureGroupName="redis-group")["FeatureGroupStatus"] != "Created":
            time.sleep(0.1)
        for t, v in ((2.0, "2"), (1.0, "1")):
            rt.put_record(FeatureGroupName="redis-group", Record=[{"FeatureName": "id", "ValueAsString": "a"},
                                                                  {"FeatureName": "t", "ValueAsString": str(t)},
                                                                  {"FeatureName": "v", "ValueAsString": v}])
        got = rt.get_record(FeatureGroupName="redis-group", RecordIdentifierValueAsString="a", FeatureNames=["v"])
        assert got["Record"] == [{"FeatureName": "v", "ValueAsString": "2"}]
        keys = redis.Redis.from_url(redis_url, decode_responses=True).keys("kiln:fs:*")
        assert any(k.startswith("kiln:fs:r:") for k in keys)
        rt.delete_record(FeatureGroupName="redis-group", RecordIdentifierValueAsString="a", EventTime="3.0")
        assert "Record" not in rt.get_record(FeatureGroupName="redis-group", RecordIdentifierValueAsString="a")
    finally:
        server.terminate()
