"""Serverless variants against the hosting reconciler with a FakeReplicaLauncher (no processes):
InService with no replica, a request's demand starts one and awaits it, scale back to zero when idle,
MaxConcurrency, ProvisionedConcurrency, a cold start that fails, and the validation rules."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from test_router_reconciler import KEY, SCOPE, FakeReplicaLauncher

from kiln.core.errors import InvalidInput
from kiln.core.state.db import Database
from kiln.services.hosting.capture import CaptureWriter
from kiln.services.hosting.metrics import InvocationMetrics
from kiln.services.hosting.models import EndpointStatus
from kiln.services.hosting.reconciler import HostingReconciler, Timing
from kiln.services.hosting.repository import HostingRepository
from kiln.services.hosting.router import Router
from kiln.services.hosting.serverless import NotReady, ServerlessScaler, Throttled, memory_limited
from kiln.services.hosting.service import HostingService
from kiln.services.hosting.tables import MIGRATIONS

IDLE = 0.3


@pytest.fixture
def world(tmp_path: Path) -> tuple[HostingService, FakeReplicaLauncher, Router, HostingReconciler]:
    db = Database(f"sqlite:///{tmp_path / 'kiln.db'}")
    db.migrate(MIGRATIONS)
    service = HostingService(HostingRepository(db))
    launcher = FakeReplicaLauncher()
    router = Router()
    reconciler = HostingReconciler(service, launcher, router, InvocationMetrics(), CaptureWriter(None),  # type: ignore[arg-type]
                                   None, timing=Timing(interval=0.01, full_scan=0.05, drain_timeout=0.1,
                                                       stop_grace=0.0, max_backoff=0.05),
                                   serverless=ServerlessScaler(lambda: None, idle_seconds=IDLE, replica_concurrency=2,
                                                               max_replicas=3))
    service.notify = reconciler.notify
    for name, env in (("good", {"TAG": "v1"}), ("bad", {"FAIL": "no weights"})):
        service.create_model(SCOPE, {"ModelName": name, "PrimaryContainer": {"Image": "x/img:1", "Environment": env}})
    return service, launcher, router, reconciler


def serverless_config(service: HostingService, name: str, model: str = "good", **cfg: int) -> None:
    service.create_config(SCOPE, {"EndpointConfigName": name, "ProductionVariants": [
        {"VariantName": "AllTraffic", "ModelName": model, "InitialVariantWeight": 1.0,
         "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 4, **cfg}}]})


async def until(check: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.01)


def replicas(router: Router) -> int:
    route = router.get(KEY)
    return len(route.variants["AllTraffic"].replicas) if route else -1


def test_scale_from_zero_and_back(world: Any) -> None:
    service, launcher, router, reconciler = world
    serverless_config(service, "c1")

    async def scenario() -> None:
        await reconciler.start()
        try:
            service.create_endpoint(SCOPE, "ep", "c1")
            await until(lambda: service.get_endpoint(SCOPE, "ep").status == EndpointStatus.IN_SERVICE)
            assert len(launcher.launched) == 1  # the probe proved the model loads ...
            assert launcher.launched[0].spec.memory_mb == 2048
            await until(lambda: replicas(router) == 0)  # ... and went: InService holding nothing
            variant = router.get(KEY).variants["AllTraffic"]
            gate = variant.serverless
            assert router.get(KEY).choose() is variant  # still takes traffic

            gate.admit()  # the first request: a cold start
            route = await gate.ready(time.monotonic() + 5)
            assert len(route.replicas) == 1 and len(launcher.launched) == 2 and gate.cold_starts == 1
            gate.leave(0.5)
            assert gate.gb_seconds == pytest.approx(1.0)

            for _ in range(4):  # traffic continues: stays warm
                gate.admit()
                await asyncio.sleep(IDLE / 3)
                gate.leave(0.0)
            assert replicas(router) == 1

            for _ in range(4):  # MaxConcurrency 4: the fifth is throttled; 4 in flight want 2 replicas
                gate.admit()
            with pytest.raises(Throttled):
                gate.admit()
            await until(lambda: replicas(router) == 2)
            for _ in range(4):
                gate.leave(0.0)
            await until(lambda: replicas(router) == 0, timeout=5)  # idle: back to zero
            assert len(launcher.stopped) == 3
        finally:
            await reconciler.stop()

    asyncio.run(scenario())


def test_provisioned_concurrency_keeps_replicas_warm(world: Any) -> None:
    service, launcher, router, reconciler = world
    serverless_config(service, "c1", ProvisionedConcurrency=3)  # 3 / 2 per replica -> 2 warm

    async def scenario() -> None:
        await reconciler.start()
        try:
            service.create_endpoint(SCOPE, "ep", "c1")
            await until(lambda: service.get_endpoint(SCOPE, "ep").status == EndpointStatus.IN_SERVICE)
            assert replicas(router) == 2
            await asyncio.sleep(IDLE * 3)
            assert replicas(router) == 2 and not launcher.stopped
        finally:
            await reconciler.stop()

    asyncio.run(scenario())


def test_failed_cold_start_answers_the_waiting_request(world: Any) -> None:
    service, _, router, reconciler = world
    serverless_config(service, "c1")

    async def scenario() -> None:
        await reconciler.start()
        try:
            service.create_endpoint(SCOPE, "ep", "c1")
            await until(lambda: replicas(router) == 0 and
                        service.get_endpoint(SCOPE, "ep").status == EndpointStatus.IN_SERVICE)
            # the model breaks after the endpoint was created (its snapshot is what replicas run)
            e = service.get_endpoint(SCOPE, "ep")
            e.current.models["good"]["PrimaryContainer"]["Environment"] = {"FAIL": "artifact vanished"}
            service.repo.save_endpoint(e)
            reconciler.notify()
            gate = router.get(KEY).variants["AllTraffic"].serverless
            gate.admit()
            with pytest.raises(NotReady, match="artifact vanished"):
                await gate.ready(time.monotonic() + 5)
            gate.leave(0.0)
            assert service.get_endpoint(SCOPE, "ep").status == EndpointStatus.IN_SERVICE
        finally:
            await reconciler.stop()

    asyncio.run(scenario())


def test_broken_model_fails_creation(world: Any) -> None:
    service, _, _, reconciler = world
    serverless_config(service, "c1", model="bad")

    async def scenario() -> None:
        await reconciler.start()
        try:
            service.create_endpoint(SCOPE, "ep", "c1")
            await until(lambda: service.get_endpoint(SCOPE, "ep").status == EndpointStatus.FAILED)
            assert "no weights" in (service.get_endpoint(SCOPE, "ep").failure_reason or "")
        finally:
            await reconciler.stop()

    asyncio.run(scenario())


@pytest.mark.parametrize(("cfg", "extra", "message"), [
    ({"MemorySizeInMB": 1500, "MaxConcurrency": 2}, {}, "memorySizeInMB"),
    ({"MemorySizeInMB": 1024, "MaxConcurrency": 2, "ProvisionedConcurrency": 3}, {}, "ProvisionedConcurrency"),
    ({"MemorySizeInMB": 1024, "MaxConcurrency": 2}, {"InstanceType": "ml.m5.large"}, "InstanceType"),
])
def test_validation(world: Any, cfg: dict[str, int], extra: dict[str, Any], message: str) -> None:
    service = world[0]
    with pytest.raises(InvalidInput, match=message):
        service.create_config(SCOPE, {"EndpointConfigName": "c", "ProductionVariants": [
            {"VariantName": "A", "ModelName": "good", "ServerlessConfig": cfg, **extra}]})


def test_memory_limit_shim() -> None:
    import subprocess
    import sys

    argv = memory_limited([sys.executable, "-c", "import resource; print(resource.getrlimit(resource.RLIMIT_DATA))"],
                          sys.executable, 1024)
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    assert out.strip() == f"({1024 ** 3}, {1024 ** 3})"


def test_instance_variant_scaled_to_zero_stays_in_service(world: Any) -> None:
    """What async inference builds on: an instance variant with 0 desired instances is InService."""
    service, launcher, router, reconciler = world
    service.create_config(SCOPE, {"EndpointConfigName": "c1", "ProductionVariants": [
        {"VariantName": "AllTraffic", "ModelName": "good", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}]})

    async def scenario() -> None:
        await reconciler.start()
        try:
            service.create_endpoint(SCOPE, "ep", "c1")
            await until(lambda: service.get_endpoint(SCOPE, "ep").status == EndpointStatus.IN_SERVICE)
            service.set_instance_count(SCOPE, "ep", "AllTraffic", 0)
            await until(lambda: service.get_endpoint(SCOPE, "ep").status == EndpointStatus.IN_SERVICE
                        and replicas(router) == 0)
            v = service.get_endpoint(SCOPE, "ep").current.variants[0]
            assert (v.desired_count, v.current_count) == (0, 0) and launcher.stopped
            service.set_instance_count(SCOPE, "ep", "AllTraffic", 1)  # and back up when work arrives
            await until(lambda: service.get_endpoint(SCOPE, "ep").status == EndpointStatus.IN_SERVICE
                        and replicas(router) == 1)
        finally:
            await reconciler.stop()

    asyncio.run(scenario())


def test_update_endpoint_between_serverless_and_instances(world: Any) -> None:
    service, launcher, router, reconciler = world
    serverless_config(service, "c1")
    service.create_config(SCOPE, {"EndpointConfigName": "c2", "ProductionVariants": [
        {"VariantName": "AllTraffic", "ModelName": "good", "InitialVariantWeight": 1.0,
         "ServerlessConfig": {"MemorySizeInMB": 4096, "MaxConcurrency": 1}}]})
    service.create_config(SCOPE, {"EndpointConfigName": "c3", "ProductionVariants": [
        {"VariantName": "AllTraffic", "ModelName": "good", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}]})

    def in_service(config: str) -> bool:
        e = service.get_endpoint(SCOPE, "ep")
        return e.status == EndpointStatus.IN_SERVICE and e.current.config_name == config

    async def scenario() -> None:
        await reconciler.start()
        try:
            service.create_endpoint(SCOPE, "ep", "c1")
            await until(lambda: in_service("c1") and replicas(router) == 0)
            service.update_endpoint(SCOPE, "ep", "c2")
            await until(lambda: in_service("c2") and replicas(router) == 0)
            assert launcher.launched[-1].spec.memory_mb == 4096  # the new config was probed
            gate = router.get(KEY).variants["AllTraffic"].serverless
            assert (gate.memory_mb, gate.max_concurrency) == (4096, 1)
            gate.admit()
            with pytest.raises(Throttled):
                gate.admit()
            gate.leave(0.0)
            service.update_endpoint(SCOPE, "ep", "c3")  # to an instance variant: one replica, always on
            await until(lambda: in_service("c3") and replicas(router) == 1)
            assert router.get(KEY).variants["AllTraffic"].serverless is None and gate.closed
            await asyncio.sleep(IDLE * 2)
            assert replicas(router) == 1
            with pytest.raises(InvalidInput, match="cannot be updated to a serverless"):  # no way back
                service.update_endpoint(SCOPE, "ep", "c1")
            assert in_service("c3")
        finally:
            await reconciler.stop()

    asyncio.run(scenario())


def test_serverless_feature_exclusions(world: Any) -> None:
    """What AWS documents serverless endpoints cannot have, refused at CreateEndpointConfig."""
    service = world[0]
    service.create_model(SCOPE, {"ModelName": "mme", "ExecutionRoleArn": "arn:aws:iam::123456789012:role/r",
                                 "PrimaryContainer": {"Image": "img", "Mode": "MultiModel",
                                                      "ModelDataUrl": "s3://b/models/"}})
    service.create_model(SCOPE, {"ModelName": "vpc", "ExecutionRoleArn": "arn:aws:iam::123456789012:role/r",
                                 "PrimaryContainer": {"Image": "img"}, "EnableNetworkIsolation": True})
    one = {"VariantName": "A", "ModelName": "good", "ServerlessConfig": {"MemorySizeInMB": 1024, "MaxConcurrency": 1}}
    cases = [
        ({"ProductionVariants": [one, {**one, "VariantName": "B"}]}, "one production variant"),
        ({"ProductionVariants": [one], "DataCaptureConfig": {"InitialSamplingPercentage": 100,
                                                             "DestinationS3Uri": "s3://b/c",
                                                             "CaptureOptions": [{"CaptureMode": "Input"}]}},
         "DataCaptureConfig is not supported for serverless"),
        ({"ProductionVariants": [{**one, "ModelName": "mme"}]}, "multi-model"),
        ({"ProductionVariants": [{**one, "ModelName": "vpc"}]}, "network isolation"),
    ]
    for i, (spec, message) in enumerate(cases):
        with pytest.raises(InvalidInput, match=message):
            service.create_config(SCOPE, {"EndpointConfigName": f"x{i}", **spec})
        with pytest.raises(Exception, match="Could not find endpoint configuration"):
            service.get_config(SCOPE, f"x{i}")  # nothing stored


def test_cold_start_wait_is_bounded() -> None:
    from kiln.services.hosting.serverless import ServerlessGate

    async def scenario() -> None:
        demands: list[int] = []
        gate = ServerlessGate("ep", "AllTraffic", 1024, 1, 0, lambda: demands.append(1))
        gate.admit()
        assert demands == [1]  # no replica: demand raised
        t0 = time.monotonic()
        with pytest.raises(NotReady, match="invocation timeout"):
            await gate.ready(time.monotonic() + 0.1)
        assert 0.09 < time.monotonic() - t0 < 2
        gate.leave(0.0)
        assert gate.inflight == 0

    asyncio.run(scenario())


def test_provisioned_concurrency_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """Utilization is the time-weighted share of the provisioned concurrency in use; requests beyond it
    count as spillover and do not raise the utilization past 1."""
    from kiln.services.hosting import serverless

    now = [100.0]
    monkeypatch.setattr(serverless.time, "monotonic", lambda: now[0])
    scaler = ServerlessScaler(lambda: None)
    gate = scaler.gate(KEY, "AllTraffic", {"MemorySizeInMB": 1024, "MaxConcurrency": 4, "ProvisionedConcurrency": 2})
    gate.take_provisioned_window()  # start a window at t=100
    gate.admit()  # t=100: 1 in flight
    now[0] = 101.0
    gate.admit()  # t=101: 2 (both provisioned)
    gate.admit()  # 3: spillover
    now[0] = 102.0
    for _ in range(3):
        gate.leave(0.1)
    now[0] = 104.0
    figures = gate.take_provisioned_window()
    # busy: 1 for 1 s, 2 (capped) for 1 s, 0 for 2 s = 3 concurrency-seconds of 2 x 4 available
    assert figures == {"ServerlessProvisionedConcurrencyUtilization": pytest.approx(3 / 8),
                       "ServerlessProvisionedConcurrencyExecutions": 2.0,
                       "ServerlessProvisionedConcurrencyInvocations": 2.0,
                       "ServerlessProvisionedConcurrencySpilloverInvocations": 1.0}
    now[0] = 105.0
    assert gate.take_provisioned_window()["ServerlessProvisionedConcurrencyUtilization"] == 0.0  # type: ignore[index]
    now[0] = 106.0
    [(scope, data)] = scaler.provisioned_metrics().items()
    assert scope == SCOPE and {d.name for d in data} == set(figures)
    none = scaler.gate(KEY, "Other", {"MemorySizeInMB": 1024, "MaxConcurrency": 4})
    assert none.take_provisioned_window() is None
