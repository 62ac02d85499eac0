"""Hosting domain: models, endpoint configs, endpoints and their variants. No AWS shapes here beyond
the validated request dicts kept verbatim as specs (Describe echoes them).

An endpoint keeps *snapshots* of the config and models it was created (or last updated) from: AWS
lets users delete both while the endpoint runs (the SDK's `delete_endpoint` deletes the config
first), and the endpoint must keep serving.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from kiln.core import arns
from kiln.core.errors import InvalidState
from kiln.core.scope import Scope


class EndpointStatus(StrEnum):
    OUT_OF_SERVICE = "OutOfService"
    CREATING = "Creating"
    UPDATING = "Updating"
    SYSTEM_UPDATING = "SystemUpdating"
    ROLLING_BACK = "RollingBack"
    IN_SERVICE = "InService"
    DELETING = "Deleting"
    FAILED = "Failed"
    UPDATE_ROLLBACK_FAILED = "UpdateRollbackFailed"


S = EndpointStatus
ALLOWED: Final[dict[EndpointStatus, frozenset[EndpointStatus]]] = {
    S.CREATING: frozenset({S.IN_SERVICE, S.FAILED, S.DELETING}),
    S.IN_SERVICE: frozenset({S.UPDATING, S.SYSTEM_UPDATING, S.DELETING}),
    S.UPDATING: frozenset({S.IN_SERVICE, S.ROLLING_BACK, S.FAILED, S.DELETING}),
    S.SYSTEM_UPDATING: frozenset({S.IN_SERVICE, S.DELETING}),
    S.ROLLING_BACK: frozenset({S.IN_SERVICE, S.UPDATE_ROLLBACK_FAILED, S.DELETING}),
    S.FAILED: frozenset({S.DELETING}),
    S.UPDATE_ROLLBACK_FAILED: frozenset({S.DELETING, S.IN_SERVICE}),
    S.OUT_OF_SERVICE: frozenset({S.DELETING, S.IN_SERVICE}),
    S.DELETING: frozenset(),
}


def check_transition(name: str, current: EndpointStatus, to: EndpointStatus) -> None:
    if to != current and to not in ALLOWED[current]:
        raise InvalidState(f"Endpoint {name} is {current.value}; it cannot move to {to.value}.")


@dataclass(slots=True)
class Model:
    scope: Scope
    name: str
    spec: dict[str, Any]  # the CreateModel request, less Tags
    created_at: float

    @property
    def arn(self) -> str:
        return arns.sagemaker(self.scope, "model", self.name)

    @property
    def containers(self) -> list[dict[str, Any]]:
        if self.spec.get("PrimaryContainer"):
            return [self.spec["PrimaryContainer"]]
        return list(self.spec.get("Containers") or [])


@dataclass(slots=True)
class EndpointConfig:
    scope: Scope
    name: str
    spec: dict[str, Any]  # the CreateEndpointConfig request, less Tags
    created_at: float

    @property
    def arn(self) -> str:
        return arns.sagemaker(self.scope, "endpoint-config", self.name)

    @property
    def variants(self) -> list[dict[str, Any]]:
        return list(self.spec["ProductionVariants"])


@dataclass(slots=True)
class Variant:
    """One production variant of a deployed endpoint: what it runs, and desired vs current shape."""

    name: str
    model_name: str
    instance_type: str
    desired_weight: float
    desired_count: int
    current_weight: float = 0.0
    current_count: int = 0
    startup_timeout: int = 600
    serverless: dict[str, Any] | None = None  # the desired ServerlessConfig
    image: str = ""
    status: list[dict[str, Any]] = field(default_factory=list)  # [{Status, StatusMessage, StartTime}]
    current_serverless: dict[str, Any] | None = None  # the ServerlessConfig in effect (None: as desired)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "model_name": self.model_name, "instance_type": self.instance_type,
                "desired_weight": self.desired_weight, "desired_count": self.desired_count,
                "current_weight": self.current_weight, "current_count": self.current_count,
                "startup_timeout": self.startup_timeout, "serverless": self.serverless, "image": self.image,
                "status": self.status, "current_serverless": self.current_serverless}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Variant:
        return cls(**d)

    @classmethod
    def from_config(cls, pv: dict[str, Any], image: str) -> Variant:
        serverless = pv.get("ServerlessConfig")
        count = 0 if serverless else int(pv.get("InitialInstanceCount") or 1)  # serverless: replicas on demand
        return cls(name=pv["VariantName"], model_name=pv.get("ModelName") or "",
                   instance_type=pv.get("InstanceType") or "ml.m5.large",
                   desired_weight=float(pv.get("InitialVariantWeight", 1.0)), desired_count=count,
                   startup_timeout=int(pv.get("ContainerStartupHealthCheckTimeoutInSeconds") or 600),
                   serverless=serverless, image=image)


@dataclass(slots=True)
class Deployment:
    """A config (and its models) as snapshotted when an endpoint was created or updated."""

    config_name: str
    config: dict[str, Any]
    models: dict[str, dict[str, Any]]  # model name -> CreateModel spec
    variants: list[Variant]

    def to_json(self) -> dict[str, Any]:
        return {"config_name": self.config_name, "config": self.config, "models": self.models,
                "variants": [v.to_json() for v in self.variants]}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Deployment:
        return cls(d["config_name"], d["config"], d["models"], [Variant.from_json(v) for v in d["variants"]])

    def variant(self, name: str) -> Variant | None:
        return next((v for v in self.variants if v.name == name), None)

    @property
    def data_capture(self) -> dict[str, Any] | None:
        cfg = self.config.get("DataCaptureConfig")
        return cfg if cfg and cfg.get("EnableCapture", True) else None


@dataclass(slots=True)
class Endpoint:
    scope: Scope
    name: str
    status: EndpointStatus
    current: Deployment
    created_at: float
    modified_at: float
    generation: int = 1  # bumped by every UpdateEndpoint: replicas of older generations drain
    pending: Deployment | None = None  # UpdateEndpoint in progress
    failure_reason: str | None = None
    deployment_config: dict[str, Any] | None = None
    version: int = 0  # compare-and-set token

    @property
    def arn(self) -> str:
        return arns.sagemaker(self.scope, "endpoint", self.name)

    @property
    def target(self) -> Deployment:
        """The deployment the endpoint is converging to."""
        return self.pending or self.current

    @property
    def target_generation(self) -> int:
        return self.generation + 1 if self.pending else self.generation
