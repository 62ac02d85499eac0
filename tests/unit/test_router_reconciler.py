"""The hosting reconciler against a FakeReplicaLauncher (no processes): what it publishes to the
router while endpoints are created, lose a replica, change capacity and weights, roll out a new
config, and fail or roll back."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from kiln.core.scope import Scope
from kiln.core.state.db import Database
from kiln.services.hosting.capture import CaptureWriter
from kiln.services.hosting.metrics import InvocationMetrics
from kiln.services.hosting.models import EndpointStatus
from kiln.services.hosting.reconciler import HostingReconciler, Timing
from kiln.services.hosting.replicas import Replica, ReplicaStartError
from kiln.services.hosting.repository import HostingRepository
from kiln.services.hosting.router import ReplicaTarget, Router
from kiln.services.hosting.service import HostingService
from kiln.services.hosting.tables import MIGRATIONS

SCOPE = Scope("123456789012", "us-east-1")
KEY = ("123456789012", "us-east-1", "ep")


class FakeReplicaLauncher:
    """Replicas that start after one loop turn; a model whose environment has FAIL never starts."""

    def __init__(self) -> None:
        self.exits: dict[str, asyncio.Future[int]] = {}
        self.launched: list[Replica] = []
        self.stopped: list[str] = []

    async def launch(self, replica: Replica) -> ReplicaTarget:
        await asyncio.sleep(0.01)
        env = replica.spec.model["PrimaryContainer"].get("Environment") or {}
        if env.get("FAIL"):
            raise ReplicaStartError(f"model refused to load: {env['FAIL']}", retryable=False)
        self.launched.append(replica)
        self.exits[replica.id] = asyncio.get_running_loop().create_future()
        return ReplicaTarget(replica.id, replica.spec.variant, client=env.get("TAG"))

    async def wait_exit(self, replica: Replica) -> int:
        return await self.exits[replica.id]

    async def stop(self, replica: Replica, grace: float) -> None:
        self.stopped.append(replica.id)
        exit_code = self.exits.get(replica.id)
        if exit_code is not None and not exit_code.done():
            exit_code.set_result(0)

    async def check(self, replica: Replica) -> bool:
        return True

    def crash(self, replica_id: str) -> None:
        self.exits[replica_id].set_result(137)


@pytest.fixture
def world(tmp_path: Path) -> tuple[HostingService, FakeReplicaLauncher, Router, HostingReconciler]:
    db = Database(f"sqlite:///{tmp_path / 'kiln.db'}")
    db.migrate(MIGRATIONS)
    service = HostingService(HostingRepository(db))
    launcher = FakeReplicaLauncher()
    router = Router()
    reconciler = HostingReconciler(service, launcher, router, InvocationMetrics(), CaptureWriter(None),  # type: ignore[arg-type]
                                   None, timing=Timing(drain_timeout=0.1, stop_grace=0.0, max_backoff=0.01))
    service.notify = reconciler.notify
    for name, env in (("good", {"TAG": "v1"}), ("better", {"TAG": "v2"}), ("bad", {"FAIL": "no weights"})):
        service.create_model(SCOPE, {"ModelName": name, "PrimaryContainer": {"Image": "x/img:1", "Environment": env}})
    return service, launcher, router, reconciler


def config(service: HostingService, name: str, *variants: tuple[str, str, int, float]) -> None:
    service.create_config(SCOPE, {"EndpointConfigName": name, "ProductionVariants": [
        {"VariantName": v, "ModelName": m, "InitialInstanceCount": n, "InitialVariantWeight": w,
         "InstanceType": "ml.m5.large"} for v, m, n, w in variants]})


async def settle(reconciler: HostingReconciler, until: Callable[[], bool], watch: Callable[[], None] | None = None,
                 ticks: int = 200) -> None:
    for _ in range(ticks):
        await reconciler.tick()
        await asyncio.sleep(0.005)
        if watch is not None:
            watch()
        if until():
            return
    raise AssertionError("did not converge")


def served(router: Router) -> dict[str, list[Any]]:
    route = router.get(KEY)
    return {} if route is None else {v.name: [r.client for r in v.replicas] for v in route.variants.values()}


def run(coro: Awaitable[None]) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


def test_create_crash_capacity_weights(world: Any) -> None:
    service, launcher, router, reconciler = world
    config(service, "c1", ("A", "good", 2, 0.9), ("B", "better", 1, 0.1))

    async def scenario() -> None:
        service.create_endpoint(SCOPE, "ep", "c1")
        await settle(reconciler, lambda: service.get_endpoint(SCOPE, "ep").status == EndpointStatus.IN_SERVICE)
        assert served(router) == {"A": ["v1", "v1"], "B": ["v2"]}
        e = service.get_endpoint(SCOPE, "ep")
        assert [(v.name, v.current_count, v.current_weight) for v in e.current.variants] == [("A", 2, 0.9),
                                                                                           ("B", 1, 0.1)]
        # a crash leaves the routing table at once and is replaced; the endpoint stays InService
        victim = router.get(KEY).variants["A"].replicas[0]
        launcher.crash(victim.id)
        await asyncio.sleep(0)
        assert len(served(router)["A"]) == 1
        await settle(reconciler, lambda: len(served(router)["A"]) == 2)
        assert victim.id not in [r.id for r in router.get(KEY).variants["A"].replicas]
        assert service.get_endpoint(SCOPE, "ep").status == EndpointStatus.IN_SERVICE
        # weights apply without touching replicas; capacity grows
        before = {r.id for v in router.get(KEY).variants.values() for r in v.replicas}
        service.update_weights_and_capacities(SCOPE, "ep", [{"VariantName": "A", "DesiredWeight": 0.0},
                                                            {"VariantName": "B", "DesiredWeight": 1.0,
                                                             "DesiredInstanceCount": 3}])
        await settle(reconciler, lambda: service.get_endpoint(SCOPE, "ep").status == EndpointStatus.IN_SERVICE)
        route = router.get(KEY)
        assert {v.name: v.weight for v in route.variants.values()} == {"A": 0.0, "B": 1.0}
        assert len(route.variants["B"].replicas) == 3
        assert before <= {r.id for v in route.variants.values() for r in v.replicas}
        # and shrinks back: the extra replicas leave the table, then stop
        service.update_weights_and_capacities(SCOPE, "ep", [{"VariantName": "B", "DesiredInstanceCount": 1}])
        await settle(reconciler, lambda: service.get_endpoint(SCOPE, "ep").status == EndpointStatus.IN_SERVICE
                     and len(served(router)["B"]) == 1)

    run(scenario())


def test_rolling_update_never_leaves_the_table_empty(world: Any) -> None:
    service, launcher, router, reconciler = world
    config(service, "c1", ("A", "good", 2, 1.0))
    config(service, "c2", ("A", "better", 2, 1.0))

    async def scenario() -> None:
        service.create_endpoint(SCOPE, "ep", "c1")
        await settle(reconciler, lambda: service.get_endpoint(SCOPE, "ep").status == EndpointStatus.IN_SERVICE)
        old = [r.id for r in router.get(KEY).variants["A"].replicas]
        service.update_endpoint(SCOPE, "ep", "c2")
        assert service.get_endpoint(SCOPE, "ep").status == EndpointStatus.UPDATING
        seen: list[list[Any]] = []

        def watch() -> None:
            seen.append(served(router)["A"])

        await settle(reconciler, lambda: service.get_endpoint(SCOPE, "ep").status == EndpointStatus.IN_SERVICE,
                     watch)
        assert all(len(tags) == 2 for tags in seen)  # two healthy replicas at every moment
        assert all(set(tags) in ({"v1"}, {"v2"}) for tags in seen)  # one config at a time, switched at once
        assert served(router) == {"A": ["v2", "v2"]}
        await settle(reconciler, lambda: set(old) <= set(launcher.stopped))
        e = service.get_endpoint(SCOPE, "ep")
        assert e.current.config_name == "c2" and e.pending is None and e.generation == 2

    run(scenario())


def test_failures_fail_creation_and_roll_back_updates(world: Any) -> None:
    service, _launcher, router, reconciler = world
    config(service, "bad", ("A", "bad", 1, 1.0))
    config(service, "ok", ("A", "good", 1, 1.0))

    async def scenario() -> None:
        service.create_endpoint(SCOPE, "broken", "bad")
        await settle(reconciler, lambda: service.get_endpoint(SCOPE, "broken").status == EndpointStatus.FAILED)
        assert "no weights" in (service.get_endpoint(SCOPE, "broken").failure_reason or "")
        assert router.get(("123456789012", "us-east-1", "broken")) is None

        service.create_endpoint(SCOPE, "ep", "ok")
        await settle(reconciler, lambda: service.get_endpoint(SCOPE, "ep").status == EndpointStatus.IN_SERVICE)
        service.update_endpoint(SCOPE, "ep", "bad")
        await settle(reconciler, lambda: service.get_endpoint(SCOPE, "ep").status == EndpointStatus.IN_SERVICE)
        e = service.get_endpoint(SCOPE, "ep")
        assert e.current.config_name == "ok" and e.pending is None and "no weights" in (e.failure_reason or "")
        assert served(router) == {"A": ["v1"]}

        service.delete_endpoint(SCOPE, "ep")
        await settle(reconciler, lambda: service.repo.get_endpoint(SCOPE, "ep") is None)
        assert router.get(KEY) is None

    run(scenario())
