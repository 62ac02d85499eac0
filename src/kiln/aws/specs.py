"""botocore's service models are the spec. Loaded once, cached for the life of the process."""

from __future__ import annotations

from functools import cache

import botocore.session
from botocore.model import OperationModel, ServiceModel

# The AWS services Kiln serves on its one port (botocore service names).
SERVICES: tuple[str, ...] = (
    "sagemaker",
    "sagemaker-runtime",
    "sagemaker-featurestore-runtime",
    "sagemaker-metrics",
    "s3",
    "sts",
    "iam",
    "logs",
    "application-autoscaling",
    "athena",
    "glue",
    "events",
    "cloudwatch",
    "sns",
)


@cache
def _session() -> botocore.session.Session:
    return botocore.session.get_session()


@cache
def service_model(name: str) -> ServiceModel:
    return _session().get_service_model(name)


@cache
def operation_model(service: str, operation: str) -> OperationModel:
    return service_model(service).operation_model(operation)


@cache
def target_prefixes() -> dict[str, str]:
    """`X-Amz-Target` prefix -> service name, for the JSON-protocol services."""
    out: dict[str, str] = {}
    for name in SERVICES:
        prefix = service_model(name).metadata.get("targetPrefix")
        if prefix:
            out[prefix] = name
    return out


@cache
def operation_names(service: ServiceModel) -> frozenset[str]:
    """The model's operation names as a set (`ServiceModel.operation_names` is a list)."""
    return frozenset(service.operation_names)
