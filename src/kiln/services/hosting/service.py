"""Hosting use-cases: models, endpoint configs and endpoints. API calls only write desired state;
the reconciler (`reconciler.py`) converges replicas to it and writes what is actually running.

Messages that clients parse ("Could not find ...", "Cannot create already existing ...") follow
the SDK's expectations (reference §10).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from kiln.core.errors import AlreadyExists, Conflict, InvalidInput, InvalidState, NotFound
from kiln.core.scope import Scope
from kiln.services.hosting import serverless
from kiln.services.hosting.asyncq.config import large_payloads
from kiln.services.hosting.asyncq.config import validate as validate_async
from kiln.services.hosting.models import (
    Deployment,
    Endpoint,
    EndpointConfig,
    EndpointStatus,
    Model,
    Variant,
    check_transition,
)
from kiln.services.hosting.repository import HostingRepository
from kiln.services.hosting.serverless import validate_variant as validate_serverless

LOG = logging.getLogger(__name__)
S = EndpointStatus


class HostingService:
    def __init__(self, repo: HostingRepository, clock: Callable[[], float] = time.time) -> None:
        self.repo = repo
        self.clock = clock
        self.notify: Callable[[], None] = lambda: None  # set by the platform: wakes the reconciler

    # -- models -------------------------------------------------------------------------------------
    def create_model(self, scope: Scope, spec: dict[str, Any]) -> Model:
        model = Model(scope, spec["ModelName"], {k: v for k, v in spec.items() if k != "Tags"}, self.clock())
        containers = model.containers
        if not containers:
            raise InvalidInput("Either PrimaryContainer or Containers must be specified.")  # unverified
        if len(containers) > 1:
            raise InvalidInput("Kiln does not run inference pipelines (more than one container) yet.")
        if not self.repo.insert_model(model):
            raise AlreadyExists("Model", model.name, f'Cannot create already existing model "{model.arn}".')
        return model

    def get_model(self, scope: Scope, name: str) -> Model:
        model = self.repo.get_model(scope, name)
        if model is None:
            raise NotFound("Model", name, f'Could not find model "{Model(scope, name, {}, 0).arn}".')
        return model

    def delete_model(self, scope: Scope, name: str) -> None:
        if not self.repo.delete_model(scope, name):
            raise NotFound("Model", name, f'Could not find model "{Model(scope, name, {}, 0).arn}".')

    # -- endpoint configs ---------------------------------------------------------------------------
    def create_config(self, scope: Scope, spec: dict[str, Any]) -> EndpointConfig:
        config = EndpointConfig(scope, spec["EndpointConfigName"], {k: v for k, v in spec.items() if k != "Tags"},
                                self.clock())
        names = [v["VariantName"] for v in config.variants]
        validate_async(config.spec, scope)
        if len(set(names)) != len(names):
            raise InvalidInput("The production variant names must be unique.")  # unverified
        models: dict[str, Model] = {}
        for index, pv in enumerate(config.variants, 1):
            validate_serverless(index, pv)
            if not pv.get("InstanceType") and not pv.get("ServerlessConfig"):
                raise InvalidInput(f"Variant {pv['VariantName']}: InstanceType or ServerlessConfig is required.")
            if pv.get("ModelName"):
                models[pv["ModelName"]] = self.get_model(scope, pv["ModelName"])
        serverless.validate_config(config.spec, models)
        if not self.repo.insert_config(config):
            raise AlreadyExists("EndpointConfig", config.name,
                                f'Cannot create already existing endpoint configuration "{config.arn}".')
        return config

    def get_config(self, scope: Scope, name: str) -> EndpointConfig:
        config = self.repo.get_config(scope, name)
        if config is None:
            raise NotFound("EndpointConfig", name, _no_config(scope, name))
        return config

    def delete_config(self, scope: Scope, name: str) -> None:
        if not self.repo.delete_config(scope, name):
            raise NotFound("EndpointConfig", name, _no_config(scope, name))

    def _deployment(self, scope: Scope, config_name: str) -> Deployment:
        config = self.get_config(scope, config_name)
        models: dict[str, Model] = {}
        variants: list[Variant] = []
        for pv in config.variants:
            model = self.get_model(scope, pv["ModelName"])
            models[model.name] = large_payloads(model.spec) if config.spec.get("AsyncInferenceConfig") \
                else model.spec
            container = model.containers[0]
            variants.append(Variant.from_config(pv, container.get("Image") or container.get("ModelPackageName", "")))
        return Deployment(config.name, config.spec, models, variants)

    # -- endpoints ------------------------------------------------------------------------------------
    def create_endpoint(self, scope: Scope, name: str, config_name: str,
                        deployment_config: dict[str, Any] | None = None) -> Endpoint:
        now = self.clock()
        endpoint = Endpoint(scope, name, S.CREATING, self._deployment(scope, config_name), now, now,
                            deployment_config=deployment_config)
        for v in endpoint.current.variants:
            v.status = [{"Status": "Creating", "StartTime": now}]
        if not self.repo.insert_endpoint(endpoint):
            raise AlreadyExists("Endpoint", name, f'Cannot create already existing endpoint "{endpoint.arn}".')
        self.notify()
        return endpoint

    def get_endpoint(self, scope: Scope, name: str) -> Endpoint:
        endpoint = self.repo.get_endpoint(scope, name)
        if endpoint is None:
            raise NotFound("Endpoint", name, _no_endpoint(scope, name))
        return endpoint

    def delete_endpoint(self, scope: Scope, name: str) -> None:
        def change(e: Endpoint) -> None:
            e.status = S.DELETING

        self._mutate(scope, name, change, allowed=None)

    def update_endpoint(self, scope: Scope, name: str, config_name: str, *, retain_variant_properties: bool = False,
                        deployment_config: dict[str, Any] | None = None) -> Endpoint:
        deployment = self._deployment(scope, config_name)

        def change(e: Endpoint) -> None:
            serverless.check_update(any(v.serverless for v in e.current.variants),
                                    any(v.serverless for v in deployment.variants), e.name)
            if retain_variant_properties:
                for v in deployment.variants:
                    old = e.current.variant(v.name)
                    if old is not None:
                        v.desired_weight, v.desired_count = old.desired_weight, old.desired_count
            for v in deployment.variants:
                v.status = [{"Status": "Creating", "StartTime": self.clock()}]
            e.pending = deployment
            e.status = S.UPDATING
            e.failure_reason = None
            if deployment_config is not None:
                e.deployment_config = deployment_config

        return self._mutate(scope, name, change, allowed=(S.IN_SERVICE, S.FAILED, S.UPDATE_ROLLBACK_FAILED),
                            in_progress_message=True)

    def update_weights_and_capacities(self, scope: Scope, name: str, desired: list[dict[str, Any]]) -> Endpoint:
        """`desired`: [{"VariantName", "DesiredWeight"?, "DesiredInstanceCount"?, "ServerlessUpdateConfig"?}]
        (wire keys; the wire layer hands them through unchanged)."""

        def change(e: Endpoint) -> None:
            missing = [d["VariantName"] for d in desired if e.current.variant(d["VariantName"]) is None]
            if missing:
                raise InvalidInput(f"The variant(s) {', '.join(missing)} are not part of endpoint "
                                   f"{e.name}.")  # unverified
            for d in desired:
                v = e.current.variant(d["VariantName"])
                assert v is not None
                if d.get("DesiredWeight") is not None:
                    v.desired_weight = float(d["DesiredWeight"])
                if d.get("DesiredInstanceCount") is not None and v.serverless:
                    raise InvalidInput(f"Variant {v.name} is serverless: it has no instance count to "
                                       "update.")  # unverified
                if d.get("DesiredInstanceCount") is not None:
                    v.desired_count = int(d["DesiredInstanceCount"])
                    if v.desired_count != v.current_count:
                        v.status = [{"Status": "Updating", "StartTime": self.clock()}]
                if d.get("ServerlessUpdateConfig"):
                    v.serverless = _serverless_update(v, d["ServerlessUpdateConfig"])
                    if v.serverless != (v.current_serverless or v.serverless):
                        v.status = [{"Status": "Updating", "StartTime": self.clock()}]
            if not any(v.desired_weight > 0 for v in e.current.variants):
                raise InvalidInput("At least one variant must have a weight greater than 0.")  # unverified
            e.status = S.UPDATING
            e.failure_reason = None

        return self._mutate(scope, name, change, allowed=(S.IN_SERVICE,), in_progress_message=True)

    def set_instance_count(self, scope: Scope, name: str, variant: str, count: int) -> Endpoint:
        """Autoscaling's write: one variant's desired instance count (endpoint must be InService)."""
        return self.update_weights_and_capacities(scope, name, [{"VariantName": variant,
                                                                 "DesiredInstanceCount": count}])

    def set_provisioned_concurrency(self, scope: Scope, name: str, variant: str, count: int) -> Endpoint:
        """Autoscaling's write for a serverless variant: its ProvisionedConcurrency."""
        return self.update_weights_and_capacities(scope, name, [{
            "VariantName": variant, "ServerlessUpdateConfig": {"ProvisionedConcurrency": count}}])

    def _mutate(self, scope: Scope, name: str, change: Callable[[Endpoint], None],
                allowed: tuple[EndpointStatus, ...] | None, in_progress_message: bool = False) -> Endpoint:
        for _ in range(20):
            e = self.get_endpoint(scope, name)
            if allowed is not None and e.status not in allowed:
                if in_progress_message:
                    raise InvalidState(f'Cannot update in-progress endpoint "{e.arn}".')
                raise InvalidState(f"Endpoint {e.name} is {e.status.value}.")
            before = e.status
            change(e)
            check_transition(e.name, before, e.status)
            e.modified_at = self.clock()
            try:
                saved = self.repo.save_endpoint(e)
            except Conflict:
                continue
            self.notify()
            return saved
        raise InvalidState(f"Endpoint {name} is changing too quickly; try again.")

    def advance(self, e: Endpoint, **changes: Any) -> Endpoint:
        """The reconciler's write: apply `changes` (attributes), checking any status move."""
        if "status" in changes:
            check_transition(e.name, e.status, changes["status"])
        for key, value in changes.items():
            setattr(e, key, value)
        e.modified_at = self.clock()
        return self.repo.save_endpoint(e)


def _no_config(scope: Scope, name: str) -> str:
    return f'Could not find endpoint configuration "{EndpointConfig(scope, name, {}, 0).arn}".'


def _no_endpoint(scope: Scope, name: str) -> str:
    return f'Could not find endpoint "{Endpoint(scope, name, S.CREATING, Deployment("", {}, {}, []), 0, 0).arn}".'


def _serverless_update(v: Variant, update: dict[str, Any]) -> dict[str, Any]:
    """The variant's ServerlessConfig with `update` (MaxConcurrency, ProvisionedConcurrency) applied."""
    if v.serverless is None:
        raise InvalidInput(f"Variant {v.name} is not serverless: ServerlessUpdateConfig applies to serverless "
                           "variants only.")  # unverified
    config = dict(v.serverless)
    for field in ("MaxConcurrency", "ProvisionedConcurrency"):
        if update.get(field) is not None:
            config[field] = int(update[field])
    if int(config.get("ProvisionedConcurrency") or 0) > int(config["MaxConcurrency"]):
        raise InvalidInput(f"ProvisionedConcurrency ({config['ProvisionedConcurrency']}) of variant {v.name} must "
                           f"be less than or equal to MaxConcurrency ({config['MaxConcurrency']}).")  # unverified
    return config
