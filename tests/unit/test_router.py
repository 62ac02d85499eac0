"""Variant choice by weight or TargetVariant, replica choice by power of two choices: no server."""

from __future__ import annotations

from collections import Counter
from itertools import cycle

import pytest

from kiln.services.hosting.router import EndpointRoute, NoSuchVariant, ReplicaTarget, Router, VariantRoute


def replicas(n: int, variant: str = "A") -> tuple[ReplicaTarget, ...]:
    return tuple(ReplicaTarget(f"{variant}{i}", variant, client=None) for i in range(n))


def test_weighted_variant_choice_follows_the_weights() -> None:
    route = EndpointRoute.build("ep", [VariantRoute("Champion", 0.9, replicas(1, "C")),
                                       VariantRoute("Challenger", 0.1, replicas(1, "X"))])
    grid = cycle(i / 1000 for i in range(1000))  # an even sweep of [0, 1)
    counts = Counter(route.choose(rand=lambda: next(grid)).name for _ in range(1000))  # type: ignore[union-attr]
    assert counts == {"Champion": 900, "Challenger": 100}
    assert route.total_weight == pytest.approx(1.0)


def test_zero_weight_and_empty_variants_get_no_traffic() -> None:
    route = EndpointRoute.build("ep", [VariantRoute("Old", 0.0, replicas(2, "O")),
                                       VariantRoute("New", 1.0, replicas(1, "N")),
                                       VariantRoute("Starting", 5.0, ())])
    assert {route.choose().name for _ in range(200)} == {"New"}  # type: ignore[union-attr]
    # ...but TargetVariant still reaches a zero-weight variant
    assert route.choose("Old").name == "Old"  # type: ignore[union-attr]
    with pytest.raises(NoSuchVariant):
        route.choose("Nope")
    assert EndpointRoute.build("ep", [VariantRoute("A", 0.0, replicas(1))]).choose() is None


def test_power_of_two_choices_prefers_fewer_requests_in_flight() -> None:
    a, b, c = replicas(3)
    a.inflight, b.inflight, c.inflight = 5, 0, 9
    variant = VariantRoute("A", 1.0, (a, b, c))
    picks = Counter(variant.pick().id for _ in range(3000))  # type: ignore[union-attr]
    # b (idle) wins whenever it is drawn (2 of 3 pairs); c (busiest) never wins
    assert picks["A1"] == pytest.approx(2000, rel=0.1) and picks["A2"] == 0
    assert variant.pick(exclude=b).id == "A0"  # type: ignore[union-attr]


def test_pick_on_small_pools() -> None:
    (only,) = replicas(1)
    assert VariantRoute("A", 1.0, (only,)).pick() is only
    assert VariantRoute("A", 1.0, (only,)).pick(exclude=only) is None
    assert VariantRoute("A", 1.0, ()).pick() is None


def test_two_random_choices_are_distinct() -> None:
    a, b = replicas(2)
    a.inflight, b.inflight = 1, 0
    draws = iter([0.0, 0.0])  # i=0, j=0 -> j moves past i: the pair is (a, b), never (a, a)
    assert VariantRoute("A", 1.0, (a, b)).pick(rand=lambda: next(draws)) is b


def test_router_publish_and_unpublish() -> None:
    router = Router()
    key = ("123456789012", "us-east-1", "ep")
    route = EndpointRoute.build("ep", [VariantRoute("A", 1.0, replicas(1))], capture="sink")
    router.publish(key, route)
    assert router.get(key) is route and route.extras["capture"] == "sink" and router.keys() == [key]
    router.publish(key, None)
    assert router.get(key) is None
