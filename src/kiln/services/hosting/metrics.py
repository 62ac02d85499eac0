"""Endpoint invocation metrics: counted in memory on the request path, flushed to the MetricStore
(namespace `AWS/SageMaker`, dimensions `EndpointName` + `VariantName`) every few seconds, and
exposed cumulatively in Prometheus text format.

Published names (units as CloudWatch documents them): Invocations, InvocationsPerInstance,
ModelLatency and OverheadLatency (Microseconds), Invocation4XXErrors and Invocation5XXErrors (one
value per invocation, 0 or 1, so Average is the error rate), ModelSetupTime (Microseconds).
`record()` is a few dict and float operations: it runs on the event loop, inside InvokeEndpoint.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable
from typing import Any

from kiln.core.scope import Scope
from kiln.services.metrics.models import Datum, StatisticSet

NAMESPACE = "AWS/SageMaker"
VariantKey = tuple[str, str, str, str]  # account, region, endpoint, variant
BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

# window slots: count, 4xx, 5xx, model sum, model min, model max, overhead sum, overhead min, overhead max
_EMPTY = (0, 0, 0, 0.0, float("inf"), 0.0, 0.0, float("inf"), 0.0)


class InvocationMetrics:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._window: dict[VariantKey, list[float]] = {}
        self._totals: dict[VariantKey, list[float]] = {}  # count, 4xx, 5xx, model sum, overhead sum
        self._hist: dict[VariantKey, list[int]] = {}
        self._setup: list[tuple[VariantKey, float, float]] = []  # key, timestamp, microseconds
        self.sources: list[Callable[[], dict[Scope, list[Any]]]] = []  # flushed with these (multi-model metrics)

    def record(self, key: VariantKey, model_us: float, overhead_us: float, status: int) -> None:
        w = self._window.get(key)
        if w is None:
            w = self._window[key] = list(_EMPTY)
        w[0] += 1
        if status >= 500:
            w[2] += 1
        elif status >= 400:
            w[1] += 1
        w[3] += model_us
        if model_us < w[4]:
            w[4] = model_us
        if model_us > w[5]:
            w[5] = model_us
        w[6] += overhead_us
        if overhead_us < w[7]:
            w[7] = overhead_us
        if overhead_us > w[8]:
            w[8] = overhead_us
        t = self._totals.get(key)
        if t is None:
            t = self._totals[key] = [0, 0, 0, 0.0, 0.0]
            self._hist[key] = [0] * (len(BUCKETS_S) + 1)
        t[0] += 1
        if status >= 500:
            t[2] += 1
        elif status >= 400:
            t[1] += 1
        t[3] += model_us
        t[4] += overhead_us
        self._hist[key][bisect.bisect_left(BUCKETS_S, model_us / 1e6)] += 1

    def record_setup(self, key: VariantKey, microseconds: float) -> None:
        self._setup.append((key, self.clock(), microseconds))

    def invocations(self, key: VariantKey) -> int:
        """Cumulative invocations of a variant since the server started."""
        t = self._totals.get(key)
        return int(t[0]) if t else 0

    def flush(self, instances: Callable[[VariantKey], int]) -> dict[Scope, list[Any]]:
        """Take the window since the last flush as CloudWatch data, grouped by scope."""
        window, self._window = self._window, {}
        setup, self._setup = self._setup, []
        now = self.clock()
        out: dict[Scope, list[Any]] = {}
        for key, w in window.items():
            count = w[0]
            if not count:
                continue
            dims = (("EndpointName", key[2]), ("VariantName", key[3]))
            n = instances(key) or 1
            data = out.setdefault(Scope(key[0], key[1]), [])
            data.append(StatisticSet(NAMESPACE, "Invocations", dims, now, count, count, 1, 1))
            data.append(Datum(NAMESPACE, "InvocationsPerInstance", dims, now, count / n))
            data.append(StatisticSet(NAMESPACE, "ModelLatency", dims, now, count, w[3], w[4], w[5], "Microseconds"))
            data.append(StatisticSet(NAMESPACE, "OverheadLatency", dims, now, count, w[6], w[7], w[8],
                                     "Microseconds"))
            for name, errors in (("Invocation4XXErrors", w[1]), ("Invocation5XXErrors", w[2])):
                data.append(StatisticSet(NAMESPACE, name, dims, now, count, errors, 1 if errors == count else 0,
                                         1 if errors else 0))
        for key, ts, us in setup:
            dims = (("EndpointName", key[2]), ("VariantName", key[3]))
            out.setdefault(Scope(key[0], key[1]), []).append(
                Datum(NAMESPACE, "ModelSetupTime", dims, ts, us, "Microseconds"))
        for source in self.sources:
            for scope, data in source().items():
                out.setdefault(scope, []).extend(data)
        return out

    def forget(self, account: str, region: str, endpoint: str) -> None:
        for table in (self._totals, self._hist):
            for key in [k for k in table if k[:3] == (account, region, endpoint)]:
                del table[key]

    def prometheus(self, gauges: dict[VariantKey, dict[str, float]]) -> str:
        """Cumulative counters and a model-latency histogram, Prometheus text format 0.0.4."""
        lines = [
            "# HELP kiln_endpoint_invocations_total InvokeEndpoint calls answered, by endpoint and variant.",
            "# TYPE kiln_endpoint_invocations_total counter",
        ]
        for key, t in sorted(self._totals.items()):
            lines.append(f"kiln_endpoint_invocations_total{{{_labels(key)}}} {int(t[0])}")
        lines += ["# HELP kiln_endpoint_invocation_errors_total Invocations answered with an error, by class.",
                  "# TYPE kiln_endpoint_invocation_errors_total counter"]
        for key, t in sorted(self._totals.items()):
            lines.append(f'kiln_endpoint_invocation_errors_total{{{_labels(key)},class="4xx"}} {int(t[1])}')
            lines.append(f'kiln_endpoint_invocation_errors_total{{{_labels(key)},class="5xx"}} {int(t[2])}')
        lines += ["# HELP kiln_endpoint_overhead_latency_seconds_total Time spent in Kiln outside the model.",
                  "# TYPE kiln_endpoint_overhead_latency_seconds_total counter"]
        for key, t in sorted(self._totals.items()):
            lines.append(f"kiln_endpoint_overhead_latency_seconds_total{{{_labels(key)}}} {t[4] / 1e6:.6f}")
        lines += ["# HELP kiln_endpoint_model_latency_seconds Time the model container took per invocation.",
                  "# TYPE kiln_endpoint_model_latency_seconds histogram"]
        for key, hist in sorted(self._hist.items()):
            running = 0
            for bound, n in zip((*BUCKETS_S, float("inf")), hist, strict=True):
                running += n
                le = "+Inf" if bound == float("inf") else f"{bound:g}"
                lines.append(f'kiln_endpoint_model_latency_seconds_bucket{{{_labels(key)},le="{le}"}} {running}')
            t = self._totals[key]
            lines.append(f"kiln_endpoint_model_latency_seconds_sum{{{_labels(key)}}} {t[3] / 1e6:.6f}")
            lines.append(f"kiln_endpoint_model_latency_seconds_count{{{_labels(key)}}} {int(t[0])}")
        for gauge in sorted({g for values in gauges.values() for g in values}):
            lines += [f"# TYPE kiln_endpoint_{gauge} gauge"]
            for key, values in sorted(gauges.items()):
                if gauge in values:
                    lines.append(f"kiln_endpoint_{gauge}{{{_labels(key)}}} {values[gauge]:g}")
        return "\n".join(lines) + "\n"


def _labels(key: VariantKey) -> str:
    def esc(v: str) -> str:
        return v.replace("\\", "\\\\").replace('"', '\\"')

    return f'account="{esc(key[0])}",region="{esc(key[1])}",endpoint="{esc(key[2])}",variant="{esc(key[3])}"'
