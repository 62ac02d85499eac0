"""The instance catalog: `ml.*` instance types as resource shapes with prices.

Prices are SageMaker on-demand training list prices, us-east-1, USD per hour, as published on the
AWS SageMaker pricing page (taken 2026-11; they change, so treat them as indicative). AWS publishes
no fixed spot price for SageMaker: managed spot advertises savings of up to 90% and typically
~70%, so the catalog models spot as `SPOT_FRACTION` of on-demand. Override any of it with a JSON
file named by `KILN_INSTANCE_CATALOG` ({"ml.x": {"vcpu":.., "memory_gib":.., "gpus":.., "price":.., "spot_price":..}}).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cache

PRICES_AS_OF = "2026-11"
PRICES_SOURCE = "AWS SageMaker pricing page, on-demand training, us-east-1 (indicative)"
SPOT_FRACTION = 0.30

# type: (vCPU, memory GiB, GPUs, on-demand USD/hour)
_CATALOG: dict[str, tuple[int, float, int, float]] = {
    "ml.t3.medium": (2, 4, 0, 0.050),
    "ml.t3.large": (2, 8, 0, 0.100),
    "ml.t3.xlarge": (4, 16, 0, 0.200),
    "ml.t3.2xlarge": (8, 32, 0, 0.399),
    "ml.m4.xlarge": (4, 16, 0, 0.240),
    "ml.m5.large": (2, 8, 0, 0.115),
    "ml.m5.xlarge": (4, 16, 0, 0.230),
    "ml.m5.2xlarge": (8, 32, 0, 0.461),
    "ml.m5.4xlarge": (16, 64, 0, 0.922),
    "ml.m5.12xlarge": (48, 192, 0, 2.765),
    "ml.m5.24xlarge": (96, 384, 0, 5.530),
    "ml.m6i.large": (2, 8, 0, 0.115),
    "ml.m6i.xlarge": (4, 16, 0, 0.230),
    "ml.m6i.2xlarge": (8, 32, 0, 0.461),
    "ml.m7i.xlarge": (4, 16, 0, 0.242),
    "ml.m7g.xlarge": (4, 16, 0, 0.196),
    "ml.c5.large": (2, 4, 0, 0.102),
    "ml.c5.xlarge": (4, 8, 0, 0.204),
    "ml.c5.2xlarge": (8, 16, 0, 0.408),
    "ml.c5.4xlarge": (16, 32, 0, 0.816),
    "ml.c5.9xlarge": (36, 72, 0, 1.836),
    "ml.c6i.xlarge": (4, 8, 0, 0.204),
    "ml.r5.large": (2, 16, 0, 0.151),
    "ml.r5.xlarge": (4, 32, 0, 0.302),
    "ml.r5.2xlarge": (8, 64, 0, 0.605),
    "ml.p3.2xlarge": (8, 61, 1, 3.825),
    "ml.p3.8xlarge": (32, 244, 4, 14.688),
    "ml.p3.16xlarge": (64, 488, 8, 28.152),
    "ml.p4d.24xlarge": (96, 1152, 8, 37.688),
    "ml.g4dn.xlarge": (4, 16, 1, 0.736),
    "ml.g4dn.2xlarge": (8, 32, 1, 1.053),
    "ml.g4dn.12xlarge": (48, 192, 4, 4.890),
    "ml.g5.xlarge": (4, 16, 1, 1.408),
    "ml.g5.2xlarge": (8, 32, 1, 1.515),
    "ml.g5.4xlarge": (16, 64, 1, 2.030),
    "ml.g5.12xlarge": (48, 192, 4, 7.090),
    "ml.g5.48xlarge": (192, 768, 8, 20.360),
    "ml.g6.xlarge": (4, 16, 1, 1.006),
    "ml.trn1.2xlarge": (8, 32, 0, 1.544),
    "ml.inf2.xlarge": (4, 16, 0, 0.990),
}


@dataclass(frozen=True, slots=True)
class InstanceType:
    name: str
    vcpu: int
    memory_gib: float
    gpus: int
    price: float  # on-demand USD per hour
    spot_price: float

    @property
    def spot_ratio(self) -> float:
        return self.spot_price / self.price if self.price else 1.0


@cache
def catalog() -> dict[str, InstanceType]:
    out = {name: InstanceType(name, v, m, g, p, round(p * SPOT_FRACTION, 4))
           for name, (v, m, g, p) in _CATALOG.items()}
    path = os.environ.get("KILN_INSTANCE_CATALOG")
    if path:
        with open(path) as f:
            for name, d in json.load(f).items():
                price = float(d["price"])
                out[name] = InstanceType(name, int(d["vcpu"]), float(d["memory_gib"]), int(d.get("gpus", 0)),
                                         price, float(d.get("spot_price", price * SPOT_FRACTION)))
    return out


def lookup(name: str) -> InstanceType:
    """The shape of an instance type; unknown `ml.*` names get a 2-vCPU shape priced at 0."""
    found = catalog().get(name)
    if found is not None:
        return found
    return InstanceType(name, 2, 8, 0, 0.0, 0.0)
