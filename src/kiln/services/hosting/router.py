"""Which replica serves a request: the variant by weight (or `TargetVariant`), then the replica by
power of two choices on outstanding requests (Mitzenmacher; Ray Serve's `pow_2_router` idea).

The reconciler *publishes* an immutable `EndpointRoute` per endpoint whenever replicas or weights
change; the request path only reads `Router.get()` and bumps `inflight` counters, so there is no
lock on the data path (everything runs on the server's event loop).
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

RouteKey = tuple[str, str, str]  # account, region, endpoint name


@dataclass(eq=False, slots=True)
class ReplicaTarget:
    """A healthy replica as the data path sees it. `client` is an UpstreamPool (or a fake in tests)."""

    id: str
    variant: str
    client: Any
    inflight: int = 0
    served: int = 0
    instance_id: str = ""


@dataclass(frozen=True, slots=True)
class VariantRoute:
    """`serverless`: the variant's ServerlessGate (serverless.py) when it scales to zero; such a
    variant takes traffic with no replica (the request starts one). `multimodel`: its model is a
    `Mode: MultiModel` container (InvokeEndpoint goes through multimodel.py)."""

    name: str
    weight: float
    replicas: tuple[ReplicaTarget, ...]
    serverless: Any = None
    multimodel: bool = False

    def pick(self, rand: Callable[[], float] = random.random,
             exclude: ReplicaTarget | None = None) -> ReplicaTarget | None:
        """Power of two choices: two distinct random replicas, the one with fewer requests in flight."""
        pool = self.replicas if exclude is None else tuple(r for r in self.replicas if r is not exclude)
        n = len(pool)
        if n == 0:
            return None
        if n == 1:
            return pool[0]
        i = int(rand() * n)
        j = int(rand() * (n - 1))
        if j >= i:
            j += 1
        a, b = pool[i], pool[j]
        return a if a.inflight <= b.inflight else b


class NoSuchVariant(Exception):
    pass


@dataclass(frozen=True, slots=True)
class EndpointRoute:
    """One endpoint's routing table. `extras` carries per-endpoint data the request path needs (the
    data capture sink), so one dict lookup finds everything."""

    name: str
    variants: dict[str, VariantRoute]
    extras: dict[str, Any] = field(default_factory=dict)
    _cumulative: tuple[float, ...] = ()
    _weighted: tuple[VariantRoute, ...] = ()

    @classmethod
    def build(cls, name: str, variants: Iterable[VariantRoute], **extras: Any) -> EndpointRoute:
        by_name = {v.name: v for v in variants}
        weighted = tuple(v for v in by_name.values() if v.weight > 0 and (v.replicas or v.serverless is not None))
        cumulative: list[float] = []
        total = 0.0
        for v in weighted:
            total += v.weight
            cumulative.append(total)
        return cls(name, by_name, extras, tuple(cumulative), weighted)

    @property
    def total_weight(self) -> float:
        return self._cumulative[-1] if self._cumulative else 0.0

    def choose(self, target: str | None = None, rand: Callable[[], float] = random.random) -> VariantRoute | None:
        """The variant for a request: `target` when given (NoSuchVariant if unknown), else weighted at
        random among variants that have weight and healthy replicas or scale from zero (None when there is
        none)."""
        if target:
            found = self.variants.get(target)
            if found is None:
                raise NoSuchVariant(target)
            return found
        if not self._weighted:
            return None
        if len(self._weighted) == 1:
            return self._weighted[0]
        x = rand() * self._cumulative[-1]
        return self._weighted[min(bisect.bisect_right(self._cumulative, x), len(self._weighted) - 1)]


class Router:
    """The live routing tables of every endpoint in this server."""

    def __init__(self) -> None:
        self._routes: dict[RouteKey, EndpointRoute] = {}

    def get(self, key: RouteKey) -> EndpointRoute | None:
        return self._routes.get(key)

    def publish(self, key: RouteKey, route: EndpointRoute | None) -> None:
        if route is None:
            self._routes.pop(key, None)
        else:
            self._routes[key] = route

    def keys(self) -> list[RouteKey]:
        return list(self._routes)
