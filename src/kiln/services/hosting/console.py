"""Terminal views for `kiln endpoints` and `kiln invoke` (through the public APIs, like any client)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.table import Table


def invocations_per_minute(cw: Any, endpoint: str, variant: str, minutes: int = 1) -> float:
    """AWS/SageMaker Invocations of one variant over the last `minutes`, per minute."""
    now = datetime.now(UTC)
    points = cw.get_metric_statistics(
        Namespace="AWS/SageMaker", MetricName="Invocations", StartTime=now - timedelta(minutes=minutes),
        EndTime=now, Period=60, Statistics=["Sum"],
        Dimensions=[{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}],
    )["Datapoints"]
    return sum(p["Sum"] for p in points) / minutes


def variant_mode(variant: dict[str, Any], endpoint_config: dict[str, Any], model: dict[str, Any]) -> tuple[str, str]:
    """(mode, capacity) of one production variant, as `kiln endpoints` shows them."""
    serverless = variant.get("ServerlessConfig")
    containers = [model["PrimaryContainer"]] if model.get("PrimaryContainer") else model.get("Containers") or []
    if serverless:
        mode = "serverless"
        capacity = f"{serverless.get('MemorySizeInMB', '?')} MB, max {serverless.get('MaxConcurrency', '?')}"
    else:
        mode = "async" if endpoint_config.get("AsyncInferenceConfig") else "real-time"
        capacity = variant.get("InstanceType", "")
    if any(c.get("Mode") == "MultiModel" for c in containers):
        mode += ", multi-model"
    return mode, capacity


def serverless_instances(config: dict[str, Any]) -> str:
    """A serverless variant has no instance counts: replicas start with requests and stop when idle,
    except those its provisioned concurrency keeps warm."""
    provisioned = config.get("ProvisionedConcurrency")
    return f"{provisioned} provisioned + on demand" if provisioned else "on demand"


def endpoints_table(sm: Any, cw: Any) -> Table:
    table = Table(title="Endpoints")
    for col, justify in (("endpoint", "left"), ("status", "left"), ("variant", "left"), ("mode", "left"),
                         ("instance", "left"),
                         ("instances", "right"), ("weight", "right"), ("invocations/min", "right"),
                         ("config", "left")):
        table.add_column(col, justify=justify, no_wrap=col == "endpoint")  # type: ignore[arg-type]
    for summary in sm.list_endpoints(SortBy="Name", SortOrder="Ascending", MaxResults=100)["Endpoints"]:
        name = summary["EndpointName"]
        try:
            desc = sm.describe_endpoint(EndpointName=name)
        except Exception:  # deleted meanwhile
            continue
        status = desc["EndpointStatus"] + (f" ({desc['FailureReason'][:60]})" if desc.get("FailureReason") else "")
        config: dict[str, Any] = {}
        endpoint_config: dict[str, Any] = {}
        try:
            endpoint_config = sm.describe_endpoint_config(EndpointConfigName=desc["EndpointConfigName"])
            config = {v["VariantName"]: v for v in endpoint_config["ProductionVariants"]}
        except Exception:  # the config may be deleted while the endpoint runs
            pass
        for i, v in enumerate(desc.get("ProductionVariants") or [{"VariantName": "-"}]):
            current, desired = v.get("CurrentInstanceCount", 0), v.get("DesiredInstanceCount", 0)
            weight = v.get("CurrentWeight", 0.0)
            instances = f"{current}" if current == desired else f"{current} -> {desired}"
            rate = invocations_per_minute(cw, name, v["VariantName"]) if v.get("VariantName") != "-" else 0.0
            variant_config = config.get(v["VariantName"], {})
            model: dict[str, Any] = {}
            if variant_config.get("ModelName"):
                try:
                    model = sm.describe_model(ModelName=variant_config["ModelName"])
                except Exception:  # the model may be deleted while the endpoint runs
                    pass
            live = v.get("CurrentServerlessConfig")  # changed by UpdateEndpointWeightsAndCapacities since
            if live:
                variant_config = {**variant_config, "ServerlessConfig": live}
            mode, capacity = variant_mode(variant_config, endpoint_config, model)
            if mode.startswith("serverless"):
                instances = serverless_instances(live or variant_config.get("ServerlessConfig") or {})
            table.add_row(name if i == 0 else "", status if i == 0 else "", v["VariantName"], mode,
                          capacity, instances, f"{weight:g}",
                          f"{rate:.0f}", desc["EndpointConfigName"] if i == 0 else "")
    return table


def read_body(body: str) -> bytes:
    """`--body` text, or the contents of a file given as `@path`."""
    if body.startswith("@"):
        return Path(body[1:]).read_bytes()
    return body.encode()


def invoke(rt: Any, endpoint: str, body: bytes, content_type: str, accept: str | None,
           variant: str | None) -> tuple[bytes, str, str]:
    """InvokeEndpoint; returns (body, content type, invoked variant)."""
    extra: dict[str, str] = {}
    if accept:
        extra["Accept"] = accept
    if variant:
        extra["TargetVariant"] = variant
    out = rt.invoke_endpoint(EndpointName=endpoint, ContentType=content_type, Body=body, **extra)
    return out["Body"].read(), out.get("ContentType", ""), out.get("InvokedProductionVariant", "")
