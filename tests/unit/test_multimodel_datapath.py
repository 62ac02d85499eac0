"""The multi-model data path against fake containers that keep the `/models` contract in memory (no
processes, no server): one load for concurrent requests of a model, LRU eviction on 507, a model the
container dropped is loaded again, an unreachable instance is given up for another, unknown targets."""

from __future__ import annotations

import asyncio
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from kiln.aws import errors
from kiln.aws.context import RequestContext
from kiln.core.errors import NotFound
from kiln.core.scope import Scope
from kiln.services.hosting.multimodel import MultiModelHosting
from kiln.services.hosting.router import ReplicaTarget, VariantRoute
from kiln.services.hosting.upstream import UpstreamError, UpstreamResponse

KEY = ("123456789012", "us-east-1", "ep", "AllTraffic")
CONTAINER = {"Image": "x", "Mode": "MultiModel", "ModelDataUrl": "s3://b/models/"}


class FakeObjects:
    def __init__(self, names: list[str]) -> None:
        self.objects = {f"models/{n}": self._archive(n) for n in names}
        self.downloads = 0

    @staticmethod
    def _archive(name: str) -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            info = tarfile.TarInfo("tag.txt")
            info.size = len(name)
            tar.addfile(info, io.BytesIO(name.encode()))
        return buf.getvalue()

    def head(self, bucket: str, key: str) -> Any:
        if key not in self.objects:
            raise NotFound("Object", key, "The specified key does not exist.")
        return type("Info", (), {"size": len(self.objects[key])})()

    def download_to(self, bucket: str, key: str, dest: Path) -> None:
        self.downloads += 1
        dest.write_bytes(self.objects[key])


class FakeContainer:
    """A container holding at most `capacity` models; `models_root` maps /opt/ml/models to the cache."""

    def __init__(self, models_root: Path, capacity: int, delay: float = 0.0) -> None:
        self.models_root = models_root
        self.capacity = capacity
        self.delay = delay
        self.loaded: dict[str, str] = {}
        self.loads = 0
        self.down = False

    async def request(self, method: str, path: str, headers: list[tuple[str, str]], body: bytes = b"",
                      timeout: float = 60.0, stream: bool = False) -> UpstreamResponse:
        if self.down:
            raise UpstreamError("connection refused", sent=False)
        await asyncio.sleep(self.delay)
        if method == "POST" and path == "/models":
            doc = json.loads(body)
            if doc["model_name"] in self.loaded:
                return UpstreamResponse(409, {}, b"{}")
            if len(self.loaded) >= self.capacity:
                return UpstreamResponse(507, {}, b'{"message": "full"}')
            local = self.models_root / doc["url"].split("/models/", 1)[1]
            self.loaded[doc["model_name"]] = (local / "tag.txt").read_text()
            self.loads += 1
            return UpstreamResponse(200, {}, b"{}")
        name = path.split("/")[2]
        if method == "DELETE":
            return UpstreamResponse(200 if self.loaded.pop(name, None) else 404, {}, b"{}")
        if name not in self.loaded:
            return UpstreamResponse(404, {b"content-type": b"application/json"}, b'{"type": "ModelNotFoundException"}')
        return UpstreamResponse(200, {b"content-type": b"text/plain"}, self.loaded[name].encode())


def _setup(tmp_path: Path, names: list[str], replicas: int = 1, capacity: int = 2,
           delay: float = 0.0) -> tuple[MultiModelHosting, VariantRoute, list[FakeContainer], FakeObjects]:
    objects = FakeObjects(names)
    mm = MultiModelHosting(objects, tmp_path)  # type: ignore[arg-type]
    targets, containers = [], []
    for i in range(replicas):
        models_dir, env = mm.prepare(f"r{i}", *KEY[:3], "ml.m5.large", CONTAINER)
        assert env["SAGEMAKER_MULTI_MODEL"] == "true" and int(env["KILN_MULTIMODEL_MEMORY_BYTES"]) == 8 * 1024 ** 3
        container = FakeContainer(models_dir, capacity, delay)
        mm.register(f"r{i}", KEY, CONTAINER, models_dir, "/opt/ml/models")
        targets.append(ReplicaTarget(f"r{i}", "AllTraffic", container))
        containers.append(container)
    return mm, VariantRoute("AllTraffic", 1.0, tuple(targets)), containers, objects


async def _invoke(mm: MultiModelHosting, variant: VariantRoute, target: str | None) -> str:
    ctx = RequestContext("sagemaker-runtime", "InvokeEndpoint", Scope(*KEY[:2]), "req-1", "kiln")
    response, _ = await mm.invoke(ctx, "ep", variant, {"TargetModel": target}, [], b"{}", 5.0)
    return response.body.decode()


def test_concurrent_requests_share_one_download_and_one_load(tmp_path: Path) -> None:
    mm, variant, (container,), objects = _setup(tmp_path, ["a.tar.gz"], delay=0.01)

    async def main() -> list[str]:
        return await asyncio.gather(*(_invoke(mm, variant, "a.tar.gz") for _ in range(10)))

    assert asyncio.run(main()) == ["a.tar.gz"] * 10
    assert (objects.downloads, container.loads) == (1, 1)
    assert mm.metrics.totals[KEY] == [0, 10]  # all ten waited for the load: none was a hit


def test_least_recently_used_goes_on_507_and_a_dropped_model_is_loaded_again(tmp_path: Path) -> None:
    mm, variant, (container,), objects = _setup(tmp_path, ["a", "b", "c"], capacity=2)

    async def main() -> None:
        for target in ("a", "b", "a", "c"):  # c needs room: b is the least recently used
            assert await _invoke(mm, variant, target) == target
        assert set(container.loaded) == set(mm.replicas["r0"].loaded)
        assert mm.loaded_targets("r0") == ["a", "c"]
        container.loaded.clear()  # the container lost its models (a restart the platform did not see)
        assert await _invoke(mm, variant, "c") == "c"

    asyncio.run(main())
    assert objects.downloads == 3 and container.loads == 4
    assert mm.metrics.totals[KEY] == [2, 5]  # a's second call, and c's last (as far as the platform knew)


def test_an_unreachable_instance_is_given_up_for_another(tmp_path: Path) -> None:
    mm, variant, containers, _ = _setup(tmp_path, ["a"], replicas=2)

    async def main() -> None:
        assert await _invoke(mm, variant, "a") == "a"
        holder = next(c for c in containers if c.loaded)
        holder.down = True
        assert await _invoke(mm, variant, "a") == "a"
        assert all(c.loaded for c in containers)

    asyncio.run(main())


def test_unknown_and_missing_targets(tmp_path: Path) -> None:
    mm, variant, _, _ = _setup(tmp_path, ["a"])
    with pytest.raises(errors.ValidationError, match=r"Failed to download model data\(bucket: b, key: models/zz\)"):
        asyncio.run(_invoke(mm, variant, "zz"))
    with pytest.raises(errors.ValidationError, match="is missing a target model header"):
        asyncio.run(_invoke(mm, variant, None))
    single = VariantRoute("AllTraffic", 1.0, (ReplicaTarget("other", "AllTraffic", None),))
    with pytest.raises(errors.ValidationError, match="is not a multi-model endpoint"):
        asyncio.run(_invoke(mm, single, "a"))
