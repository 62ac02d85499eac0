"""The seed's A/B answer, verified by counting: two variants at 90/10, traffic split accordingly,
UpdateEndpointWeightsAndCapacities to 0/100 and a capacity change without restarting anything or
failing a request, then UpdateEndpoint to a config without the old variant (new replicas healthy
before old ones drain) under load with no failed request, and a failed update that rolls back."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "contract"))
from test_hosting_helpers import create_model, replica_pids, upload_model, variant, wait_endpoint

pytestmark = [pytest.mark.slow]
BODY = json.dumps({"inputs": [[0.5, -1.0, 0.25, 1.5]]})


class Load:
    """Invokes the endpoint in a background thread, counting answers by variant and by model tag."""

    def __init__(self, rt: Any, endpoint: str) -> None:
        self.rt, self.endpoint = rt, endpoint
        self.variants: Counter[str] = Counter()
        self.tags: Counter[str] = Counter()
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                out = self.rt.invoke_endpoint(EndpointName=self.endpoint, ContentType="application/json", Body=BODY)
                self.variants[out["InvokedProductionVariant"]] += 1
                self.tags[json.loads(out["Body"].read())["tag"]] += 1
            except Exception as exc:
                self.errors.append(repr(exc))

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def test_ab_split_weights_capacity_and_rolling_update(kiln_server: Any, unique_name: str) -> None:
    sm, s3 = kiln_server.client("sagemaker"), kiln_server.client("s3")
    rt = kiln_server.client("sagemaker-runtime", max_pool_connections=4)
    ep = unique_name
    url = upload_model(s3, f"ab/{ep}/model.tar.gz")
    create_model(sm, f"{ep}-champion", url, tag="champion")
    create_model(sm, f"{ep}-challenger", url, tag="challenger")
    sm.create_endpoint_config(EndpointConfigName=f"{ep}-ab", ProductionVariants=[
        variant("Champion", f"{ep}-champion", 1, 0.9), variant("Challenger", f"{ep}-challenger", 1, 0.1)])
    sm.create_endpoint(EndpointName=ep, EndpointConfigName=f"{ep}-ab")
    assert wait_endpoint(sm, ep)["EndpointStatus"] == "InService"

    # 90/10 by counting: 1,000 requests, binomial sd ~9.5, so 100 +/- 40 is a > 4-sigma band.
    counts: Counter[str] = Counter()
    for _ in range(1000):
        counts[rt.invoke_endpoint(EndpointName=ep, ContentType="application/json",
                                  Body=BODY)["InvokedProductionVariant"]] += 1
    assert counts["Champion"] + counts["Challenger"] == 1000
    assert 60 <= counts["Challenger"] <= 140, counts
    # TargetVariant overrides the weights
    assert {rt.invoke_endpoint(EndpointName=ep, TargetVariant="Challenger", ContentType="application/json",
                               Body=BODY)["InvokedProductionVariant"] for _ in range(20)} == {"Challenger"}

    pids = sorted(replica_pids(kiln_server, ep))
    with Load(rt, ep) as load:
        time.sleep(0.5)
        sm.update_endpoint_weights_and_capacities(EndpointName=ep, DesiredWeightsAndCapacities=[
            {"VariantName": "Champion", "DesiredWeight": 0.0}, {"VariantName": "Challenger", "DesiredWeight": 1.0}])
        desc = wait_endpoint(sm, ep, until=("InService",))
        before = sum(load.variants.values())
        time.sleep(1.0)
        after = load.variants.copy()
    assert load.errors == [], load.errors[:3]
    assert sorted(replica_pids(kiln_server, ep)) == pids  # no restart
    weights = {v["VariantName"]: (v["CurrentWeight"], v["DesiredWeight"]) for v in desc["ProductionVariants"]}
    assert weights == {"Champion": (0.0, 0.0), "Challenger": (1.0, 1.0)}
    assert sum(after.values()) > before and after["Champion"] == load.variants["Champion"]
    recent = Counter()
    for _ in range(50):
        recent[rt.invoke_endpoint(EndpointName=ep, ContentType="application/json",
                                  Body=BODY)["InvokedProductionVariant"]] += 1
    assert recent == Counter({"Challenger": 50})

    # More capacity for the challenger, under load.
    with Load(rt, ep) as load:
        sm.update_endpoint_weights_and_capacities(EndpointName=ep, DesiredWeightsAndCapacities=[
            {"VariantName": "Challenger", "DesiredInstanceCount": 2}])
        assert sm.describe_endpoint(EndpointName=ep)["EndpointStatus"] == "Updating"
        desc = wait_endpoint(sm, ep, until=("InService",))
    assert load.errors == [], load.errors[:3]
    challenger = next(v for v in desc["ProductionVariants"] if v["VariantName"] == "Challenger")
    assert (challenger["CurrentInstanceCount"], challenger["DesiredInstanceCount"]) == (2, 2)

    # Retire the champion: a new config with the challenger only, rolled out under load.
    sm.create_endpoint_config(EndpointConfigName=f"{ep}-winner", ProductionVariants=[
        variant("Challenger", f"{ep}-challenger", 2, 1.0)])
    old = set(replica_pids(kiln_server, ep))
    with Load(rt, ep) as load:
        time.sleep(0.3)
        sm.update_endpoint(EndpointName=ep, EndpointConfigName=f"{ep}-winner")
        assert sm.describe_endpoint(EndpointName=ep)["EndpointStatus"] == "Updating"
        desc = wait_endpoint(sm, ep, until=("InService",), timeout=300)
        time.sleep(0.5)
    assert load.errors == [] and sum(load.variants.values()) > 10, (load.errors[:3], load.variants)
    assert desc["EndpointConfigName"] == f"{ep}-winner"
    assert [v["VariantName"] for v in desc["ProductionVariants"]] == ["Challenger"]
    new = set(replica_pids(kiln_server, ep))
    assert len(new) == 2 and not new & old

    # An update whose model will not load rolls back: still InService on the winner, with a reason.
    create_model(sm, f"{ep}-broken", upload_model(s3, f"ab/{ep}/broken.tar.gz", broken=True))
    sm.create_endpoint_config(EndpointConfigName=f"{ep}-broken", ProductionVariants=[
        variant("Challenger", f"{ep}-broken", 1, 1.0)])
    with Load(rt, ep) as load:
        sm.update_endpoint(EndpointName=ep, EndpointConfigName=f"{ep}-broken")
        desc = wait_endpoint(sm, ep, until=("InService",), timeout=300)
    assert load.errors == [], load.errors[:3]
    assert desc["EndpointConfigName"] == f"{ep}-winner" and "broken on purpose" in desc["FailureReason"], desc
    assert set(replica_pids(kiln_server, ep)) == new

    sm.delete_endpoint(EndpointName=ep)
    sm.get_waiter("endpoint_deleted").wait(EndpointName=ep, WaiterConfig={"Delay": 1})
