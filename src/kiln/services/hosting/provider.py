"""SageMaker hosting operations (models, endpoint configs, endpoints). Translation only; the logic
lives in HostingService, the running replicas in the reconciler."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kiln.aws.context import RequestContext
from kiln.aws.dispatch import Provider, operation
from kiln.aws.errors import AwsError, InternalFailure, ResourceLimitExceeded, ValidationException
from kiln.aws.pagination import listing
from kiln.core import errors as domain
from kiln.services.hosting import wire
from kiln.services.hosting.service import HostingService
from kiln.services.tags.store import TagStore

_BY_NAME_TIME: dict[str, Callable[[Any], Any]] = {"Name": lambda x: x.name, "CreationTime": lambda x: x.created_at}
_ENDPOINT_SORT: dict[str, Callable[[Any], Any]] = {**_BY_NAME_TIME, "Status": lambda x: x.status.value}


class HostingProvider(Provider):
    service = "sagemaker"

    def __init__(self, hosting: HostingService, tags: TagStore) -> None:
        self.hosting = hosting
        self.tags = tags

    def domain_errors(self, err: domain.DomainError) -> AwsError:
        match err:
            case domain.NotFound() | domain.AlreadyExists() | domain.InvalidState() | domain.InvalidInput():
                return ValidationException(err.message)  # reference §10: the SDK matches these messages
            case domain.LimitExceeded():
                return ResourceLimitExceeded(err.message)
        return InternalFailure("An internal error occurred.")

    def _tag(self, arn: str, request: dict[str, Any]) -> None:
        if request.get("Tags"):
            self.tags.add(arn, request["Tags"])

    # -- models ---------------------------------------------------------------------------------------
    @operation("CreateModel")
    def create_model(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        model = self.hosting.create_model(ctx.scope, request)
        self._tag(model.arn, request)
        return {"ModelArn": model.arn}

    @operation("DescribeModel")
    def describe_model(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        return wire.describe_model(self.hosting.get_model(ctx.scope, request["ModelName"]))

    @operation("ListModels")
    def list_models(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        items, token = listing(self.hosting.repo.list_models(ctx.scope), request, wire.model_summary, _BY_NAME_TIME)
        return {"Models": items, "NextToken": token}

    @operation("DeleteModel")
    def delete_model(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        self.hosting.delete_model(ctx.scope, request["ModelName"])
        return {}

    # -- endpoint configs -----------------------------------------------------------------------------
    @operation("CreateEndpointConfig")
    def create_endpoint_config(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        config = self.hosting.create_config(ctx.scope, request)
        self._tag(config.arn, request)
        return {"EndpointConfigArn": config.arn}

    @operation("DescribeEndpointConfig")
    def describe_endpoint_config(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        return wire.describe_config(self.hosting.get_config(ctx.scope, request["EndpointConfigName"]))

    @operation("ListEndpointConfigs")
    def list_endpoint_configs(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        items, token = listing(self.hosting.repo.list_configs(ctx.scope), request, wire.config_summary,
                               _BY_NAME_TIME)
        return {"EndpointConfigs": items, "NextToken": token}

    @operation("DeleteEndpointConfig")
    def delete_endpoint_config(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        self.hosting.delete_config(ctx.scope, request["EndpointConfigName"])
        return {}

    # -- endpoints ------------------------------------------------------------------------------------
    @operation("CreateEndpoint")
    def create_endpoint(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        endpoint = self.hosting.create_endpoint(ctx.scope, request["EndpointName"], request["EndpointConfigName"],
                                                request.get("DeploymentConfig"))
        self._tag(endpoint.arn, request)
        return {"EndpointArn": endpoint.arn}

    @operation("DescribeEndpoint")
    def describe_endpoint(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        return wire.describe_endpoint(self.hosting.get_endpoint(ctx.scope, request["EndpointName"]))

    @operation("ListEndpoints")
    def list_endpoints(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        items, token = listing(self.hosting.repo.list_endpoints(ctx.scope), request, wire.endpoint_summary,
                               _ENDPOINT_SORT)
        return {"Endpoints": items, "NextToken": token}

    @operation("DeleteEndpoint")
    def delete_endpoint(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        self.hosting.delete_endpoint(ctx.scope, request["EndpointName"])
        return {}

    @operation("UpdateEndpoint")
    def update_endpoint(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        endpoint = self.hosting.update_endpoint(
            ctx.scope, request["EndpointName"], request["EndpointConfigName"],
            retain_variant_properties=bool(request.get("RetainAllVariantProperties")),
            deployment_config=request.get("DeploymentConfig"))
        return {"EndpointArn": endpoint.arn}

    @operation("UpdateEndpointWeightsAndCapacities")
    def update_endpoint_weights_and_capacities(self, ctx: RequestContext, request: dict[str, Any]) -> dict[str, Any]:
        endpoint = self.hosting.update_weights_and_capacities(ctx.scope, request["EndpointName"],
                                                              request["DesiredWeightsAndCapacities"])
        return {"EndpointArn": endpoint.arn}
