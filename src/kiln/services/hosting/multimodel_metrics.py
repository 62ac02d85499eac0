"""Multi-model endpoint metrics, published with the invocation metrics (namespace `AWS/SageMaker`,
dimensions `EndpointName` + `VariantName`), as CloudWatch documents them for multi-model endpoints:

* `ModelCacheHit`: one value per InvokeEndpoint, 1 when the target model was already loaded on the
  instance that served it, else 0 (so Average is the hit rate, Sum the hits).
* `ModelLoadingTime`, `ModelDownloadingTime`, `ModelUnloadingTime` (Microseconds): the container's load
  API call, the artifact's download and unpacking from the object store, the unload API call.
* `LoadedModelCount`: models loaded in the containers; one sample per instance (Sum is the total,
  Maximum the fullest instance).

`record_*` run on the event loop (a few list operations); `flush()` runs where the invocation
metrics flush (the reconciler, every `KILN_HOSTING_METRICS_FLUSH_SECONDS`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from kiln.core.scope import Scope
from kiln.services.hosting.metrics import NAMESPACE, VariantKey
from kiln.services.metrics.models import StatisticSet

# per variant: hits, requests; and per timing name: count, sum, min, max
_TIMINGS = ("ModelLoadingTime", "ModelDownloadingTime", "ModelUnloadingTime")


class MultiModelMetrics:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._hits: dict[VariantKey, list[int]] = {}
        self._timings: dict[tuple[VariantKey, str], list[float]] = {}
        self.totals: dict[VariantKey, list[int]] = {}  # cumulative hits, requests (Prometheus, benchmarks)
        self.loaded_counts: Callable[[], dict[VariantKey, list[int]]] = dict  # set by the manager

    def record_hit(self, key: VariantKey, hit: bool) -> None:
        w = self._hits.get(key)
        if w is None:
            w = self._hits[key] = [0, 0]
        t = self.totals.get(key)
        if t is None:
            t = self.totals[key] = [0, 0]
        if hit:
            w[0] += 1
            t[0] += 1
        w[1] += 1
        t[1] += 1

    def record_time(self, key: VariantKey, name: str, microseconds: float) -> None:
        t = self._timings.get((key, name))
        if t is None:
            self._timings[(key, name)] = [1, microseconds, microseconds, microseconds]
            return
        t[0] += 1
        t[1] += microseconds
        t[2] = min(t[2], microseconds)
        t[3] = max(t[3], microseconds)

    def flush(self) -> dict[Scope, list[Any]]:
        hits, self._hits = self._hits, {}
        timings, self._timings = self._timings, {}
        now = self.clock()
        out: dict[Scope, list[Any]] = {}

        def add(key: VariantKey, datum: Any) -> None:
            out.setdefault(Scope(key[0], key[1]), []).append(datum)

        for key, (hit, count) in hits.items():
            if count:
                add(key, StatisticSet(NAMESPACE, "ModelCacheHit", _dims(key), now, count, hit,
                                      1 if hit == count else 0, 1 if hit else 0))
        for (key, name), (count, total, low, high) in timings.items():
            add(key, StatisticSet(NAMESPACE, name, _dims(key), now, count, total, low, high, "Microseconds"))
        for key, per_instance in self.loaded_counts().items():
            if per_instance:
                add(key, StatisticSet(NAMESPACE, "LoadedModelCount", _dims(key), now, len(per_instance),
                                      sum(per_instance), min(per_instance), max(per_instance)))
        return out

    def forget(self, key: VariantKey) -> None:
        self.totals.pop(key, None)


def _dims(key: VariantKey) -> tuple[tuple[str, str], ...]:
    return (("EndpointName", key[2]), ("VariantName", key[3]))
